// dist::collectives in one process (the N-process cases are tests/apps/test_mpi.cpp): which
// implementation each device gets, that each moves the bytes where the interface says, that the
// sim's are ordered with its queue like NCCL's on a CUDA stream (without a host read), and that
// bad buffers and a bad UNRAVEL_COLLECTIVES are refused with the reason.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "engine/dist/collectives.h"
#include "engine/dist/communicator.h"
#include "engine/sim/sim_backend.h"
#include "ops/ops.h"

using namespace unravel;

namespace {

const Device kSim = sim_device(1);

/// Sets UNRAVEL_COLLECTIVES for the scope.
struct EnvChoice {
  explicit EnvChoice(const char* v) { setenv("UNRAVEL_COLLECTIVES", v, 1); }
  ~EnvChoice() { unsetenv("UNRAVEL_COLLECTIVES"); }
};

/// allgather, alltoall and allreduce_sum of one process on `device`, each checked against
/// what the interface says (a single process's blocks are its own).
void exercise(dist::Collectives& c, Device device) {
  REQUIRE(dist::world().size() == 1);
  const Tensor send = arange(6, DType::f32, device, 1.0) * 2.0;  // queued before
  Tensor recv = Tensor::zeros(Shape{6}, DType::f32, device);
  c.wait(c.allgather(send.raw_data(), 6 * sizeof(float), recv.raw_data(), 0));
  CHECK(recv.to_vector<float>() == std::vector<float>{2, 4, 6, 8, 10, 12});
  Tensor recv2 = Tensor::zeros(Shape{6}, DType::f32, device);
  const auto r = c.alltoall(send.raw_data(), 6 * sizeof(float), recv2.raw_data(), 1);
  c.wait(r);
  CHECK(recv2.to_vector<float>() == std::vector<float>{2, 4, 6, 8, 10, 12});
  Tensor sum = clone(send);
  const auto s = c.allreduce_sum(static_cast<float*>(sum.raw_data()), 6, 0);
  while (!c.test(s)) {
  }
  CHECK(sum.to_vector<float>() == std::vector<float>{2, 4, 6, 8, 10, 12});
}

}  // namespace

TEST_CASE("collectives: MPI on CPU memory, the sim's own in its queue, host copies on request") {
  unsetenv("UNRAVEL_COLLECTIVES");
  dist::Collectives& cpu = dist::collectives(kCPU);
  CHECK(cpu.name() == "MPI (host memory)");
  CHECK(&dist::collectives(kCPU) == &cpu);  // made once
  exercise(cpu, kCPU);

  dist::Collectives& sim = dist::collectives(kSim);
  CHECK(sim.name() == "MPI in the sim device queue (stands in for NCCL)");
  // Ordered with the queue, as on a stream: the send buffer's kernels run first, the result is
  // there for the kernels after it, and no host read or sync is needed for either.
  {
    const Tensor x = arange(4, DType::f32, kSim);
    sim_reset_stats();
    const Tensor send = x * 3.0 + 1.0;  // queued, not run
    Tensor recv = Tensor::empty(Shape{4}, DType::f32, kSim);
    sim.wait(sim.allgather(send.raw_data(), 4 * sizeof(float), recv.raw_data(), 0));
    const Tensor after = recv * 2.0;  // queued after the collective
    CHECK(sim_stats().host_reads == 0);
    CHECK(sim_stats().syncs == 0);
    CHECK(after.to_vector<float>() == std::vector<float>{2, 8, 14, 20});
  }
  exercise(sim, kSim);

  {
    EnvChoice host("host");
    dist::Collectives& staged = dist::collectives(kSim);
    CHECK(&staged != &sim);
    CHECK(staged.name() == "host copies and MPI (UNRAVEL_COLLECTIVES=host)");
    exercise(staged, kSim);
    CHECK(&dist::collectives(kCPU) == &cpu);  // the CPU's memory is the host's already
  }
  {
    EnvChoice device("device");
    CHECK(&dist::collectives(kSim) == &sim);
  }
}

TEST_CASE("collectives: a host buffer given to sim's, or a bad UNRAVEL_COLLECTIVES, is refused") {
  unsetenv("UNRAVEL_COLLECTIVES");
  dist::Collectives& sim = dist::collectives(kSim);
  const Tensor on_sim = Tensor::zeros(Shape{4}, DType::f32, kSim);
  const Tensor on_cpu = Tensor::zeros(Shape{4}, DType::f32, kCPU);
  CHECK_THROWS_WITH(sim.allgather(on_cpu.raw_data(), 16, on_sim.raw_data(), 0),
                    doctest::Contains("sim allgather: a buffer is not sim memory"));
  CHECK_THROWS_WITH(sim.allreduce_sum(static_cast<float*>(on_cpu.raw_data()), 4, 0),
                    doctest::Contains("sim allreduce_sum: a buffer is not sim memory"));
  // A request is released once test() has said true or wait() has returned; asking again is a
  // caller's bug, named as NCCL's collectives name it.
  const Tensor send = Tensor::zeros(Shape{4}, DType::f32, kSim);
  Tensor recv = Tensor::empty(Shape{4}, DType::f32, kSim);
  const auto r = sim.allgather(send.raw_data(), 16, recv.raw_data(), 0);
  CHECK(sim.test(r));  // process 0 sees it complete at once
  CHECK_THROWS_WITH(sim.test(r), doctest::Contains("is not pending"));
  CHECK_THROWS_WITH(sim.wait(r), doctest::Contains("is not pending"));
  EnvChoice bad("nccl");
  CHECK_THROWS_WITH(dist::collectives(kSim),
                    doctest::Contains("UNRAVEL_COLLECTIVES='nccl': expected 'device'"));
}
