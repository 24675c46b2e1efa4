// The world communicator (engine/dist/communicator.h): MPI where the build has it, a single
// process otherwise. The only translation unit that includes <mpi.h>.
#include "engine/dist/communicator.h"

#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/check.h"
#include "engine/config.h"

#if UNRAVEL_HAVE_MPI
// The C API only: Open MPI's deprecated C++ bindings warn under -Wextra.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace unravel::dist {

namespace {

int env_int(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : 0;
}

// Times one collective into the communicator's totals.
class Timed {
 public:
  Timed(double& seconds, int64_t& calls) : seconds_(seconds), t0_(Clock::now()) { ++calls; }
  ~Timed() { seconds_ += std::chrono::duration<double>(Clock::now() - t0_).count(); }

 private:
  using Clock = std::chrono::steady_clock;
  double& seconds_;
  Clock::time_point t0_;
};

#if UNRAVEL_HAVE_MPI
void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw_error(fmt::format("{} failed: {}", what, std::string(text, static_cast<size_t>(len))));
}

int as_count(size_t n, const char* what) {
  UNRAVEL_CHECK(n <= static_cast<size_t>(INT_MAX), "{}: {} elements exceed MPI's int count",
                what, n);
  return static_cast<int>(n);
}
#endif

std::unique_ptr<Communicator>& world_slot() {
  static std::unique_ptr<Communicator> w;
  return w;
}

}  // namespace

bool have_mpi() { return UNRAVEL_HAVE_MPI != 0; }

int launched_size() {
  // Open MPI's mpirun (ORTE) sets OMPI_COMM_WORLD_SIZE; MPICH/Hydra and Slurm's PMI set PMI_SIZE.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (int n = env_int(name); n > 0) return n;
  // PMIx launchers (srun --mpi=pmix, PRRTE) announce a rank but not always the size: Slurm's
  // task count where there is one, else MPI knows (-1: launched, size unknown until MPI_Init).
  if (std::getenv("PMIX_RANK")) {
    if (int n = env_int("SLURM_STEP_NUM_TASKS"); n > 0) return n;
    return -1;
  }
  return 1;
}

struct Communicator::Pending {
#if UNRAVEL_HAVE_MPI
  std::unordered_map<Request, MPI_Request> requests;
  MPI_Comm lanes[kLanes] = {};  ///< duplicates of MPI_COMM_WORLD, made when MPI starts
  MPI_Comm lane(int k) {
    UNRAVEL_CHECK(k >= 0 && k < kLanes, "Communicator: lane {} (there are {})", k, kLanes);
    return lanes[k];
  }
#endif
  Request next = 1;
};

Communicator::Communicator() : pending_(std::make_unique<Pending>()) {
  const int launched = launched_size();
  if (launched == 1) return;
#if UNRAVEL_HAVE_MPI
  // Only the main thread calls MPI (OpenMP workers never do): FUNNELED is enough.
  // A host that initialised MPI already (mpi4py around the Python module) keeps its ownership.
  int already = 0;
  MPI_Initialized(&already);
  if (!already) {
    int provided = 0;
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided),
              "MPI_Init_thread");
    initialised_ = true;
  }
  check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  // Errors come back as codes (turned into exceptions above), not as an abort inside MPI.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  // The non-blocking collectives' lanes, duplicated here where every process is at the same
  // point (MPI_Comm_dup is itself a collective on the world), inheriting the error handler.
  for (MPI_Comm& c : pending_->lanes) check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &c), "MPI_Comm_dup");
  MPI_Comm node;
  check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
            "MPI_Comm_split_type");
  check_mpi(MPI_Comm_rank(node, &local_rank_), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(node, &local_size_), "MPI_Comm_size");
  MPI_Comm_free(&node);
  split_wait_ = env_int("UNRAVEL_DIST_TIMING") != 0;
#else
  UNRAVEL_CHECK(false, "this process is one of {} started by an MPI launcher, but this unravel was "
                "built without MPI (meson setup -Dmpi=enabled with libopenmpi-dev installed); "
                "run it without mpirun", launched < 0 ? std::string("several")
                                                       : std::to_string(launched));
#endif
}

Communicator::~Communicator() {
#if UNRAVEL_HAVE_MPI
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized)
    for (MPI_Comm& c : pending_->lanes)
      if (c != MPI_COMM_NULL && c != 0) MPI_Comm_free(&c);
  if (initialised_ && !finalized) MPI_Finalize();
#endif
}

void Communicator::wait_for_others() {
#if UNRAVEL_HAVE_MPI
  if (!split_wait_) return;
  int64_t calls = 0;
  Timed t(wait_seconds_, calls);
  check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

void Communicator::allgather(const void* send, size_t bytes, void* recv) {
  exchange_bytes(false, send, bytes, recv);
}

void Communicator::alltoall(const void* send, size_t bytes, void* recv) {
  exchange_bytes(true, send, bytes, recv);
}

void Communicator::exchange_bytes(bool alltoall, const void* send, size_t bytes, void* recv) {
  if (size_ > 1) wait_for_others();
  Timed t(seconds_, calls_);
  if (size_ == 1) {  // both collectives copy the one block
    if (bytes) std::memmove(recv, send, bytes);
    return;
  }
#if UNRAVEL_HAVE_MPI
  // MPI_Alltoall and MPI_Allgather take the same arguments: `bytes` per process each way.
  const char* what = alltoall ? "MPI_Alltoall" : "MPI_Allgather";
  const int n = as_count(bytes, what);
  check_mpi((alltoall ? MPI_Alltoall : MPI_Allgather)(send, n, MPI_BYTE, recv, n, MPI_BYTE,
                                                      MPI_COMM_WORLD),
            what);
#endif
}

void Communicator::allreduce_sum(float* data, size_t n) {
  if (size_ > 1) wait_for_others();
  Timed t(seconds_, calls_);
  if (size_ == 1) return;
#if UNRAVEL_HAVE_MPI
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, data, as_count(n, "allreduce"), MPI_FLOAT, MPI_SUM,
                          MPI_COMM_WORLD), "MPI_Allreduce");
#endif
}

int64_t Communicator::allreduce_max(int64_t v) {
  if (size_ > 1) wait_for_others();
  Timed t(seconds_, calls_);
  if (size_ == 1) return v;
#if UNRAVEL_HAVE_MPI
  long long x = v;
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_LONG_LONG, MPI_MAX, MPI_COMM_WORLD),
            "MPI_Allreduce");
  v = x;
#endif
  return v;
}

void Communicator::barrier() {
  Timed t(seconds_, calls_);
  if (size_ == 1) return;
#if UNRAVEL_HAVE_MPI
  check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

Communicator::Request Communicator::iallgather(const void* send, size_t bytes, void* recv,
                                               int lane) {
  return start_bytes(false, send, bytes, recv, lane);
}

Communicator::Request Communicator::ialltoall(const void* send, size_t bytes, void* recv,
                                              int lane) {
  return start_bytes(true, send, bytes, recv, lane);
}

Communicator::Request Communicator::start_bytes(bool alltoall, const void* send, size_t bytes,
                                                void* recv, int lane) {
  (void)lane;  // a single process has one lane
  Timed t(seconds_, calls_);
  const Request id = pending_->next++;
  if (size_ == 1) {  // both collectives copy the one block
    if (bytes) std::memmove(recv, send, bytes);
    return id;
  }
#if UNRAVEL_HAVE_MPI
  // MPI_Ialltoall and MPI_Iallgather take the same arguments: `bytes` per process each way.
  const char* what = alltoall ? "MPI_Ialltoall" : "MPI_Iallgather";
  const int n = as_count(bytes, what);
  MPI_Request r;
  check_mpi((alltoall ? MPI_Ialltoall : MPI_Iallgather)(send, n, MPI_BYTE, recv, n, MPI_BYTE,
                                                        pending_->lane(lane), &r),
            what);
  pending_->requests.emplace(id, r);
#endif
  return id;
}

Communicator::Request Communicator::iallreduce_sum(float* data, size_t n, int lane) {
  (void)lane;  // a single process has one lane
  Timed t(seconds_, calls_);
  const Request id = pending_->next++;
  if (size_ == 1) return id;
#if UNRAVEL_HAVE_MPI
  MPI_Request r;
  check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data, as_count(n, "iallreduce"), MPI_FLOAT, MPI_SUM,
                           pending_->lane(lane), &r), "MPI_Iallreduce");
  pending_->requests.emplace(id, r);
#endif
  return id;
}

bool Communicator::test(Request id) {
#if UNRAVEL_HAVE_MPI
  auto it = pending_->requests.find(id);
  if (it == pending_->requests.end()) return true;  // a single process's, or already completed
  int done = 0;
  check_mpi(MPI_Test(&it->second, &done, MPI_STATUS_IGNORE), "MPI_Test");
  if (done) pending_->requests.erase(it);
  else progress();
  return done != 0;
#else
  (void)id;
  return true;
#endif
}

void Communicator::wait(Request id) {
#if UNRAVEL_HAVE_MPI
  auto it = pending_->requests.find(id);
  if (it == pending_->requests.end()) return;
  int64_t calls = 0;
  Timed t(seconds_, calls);
  check_mpi(MPI_Wait(&it->second, MPI_STATUS_IGNORE), "MPI_Wait");
  pending_->requests.erase(it);
#else
  (void)id;
#endif
}

void Communicator::progress() {
#if UNRAVEL_HAVE_MPI
  // MPI_Test on one pending request drives Open MPI's progress engine for all of them; completed
  // requests stay in the map (their MPI_Request set to MPI_REQUEST_NULL) until test() or wait().
  for (auto& [id, r] : pending_->requests) {
    if (r == MPI_REQUEST_NULL) continue;
    int done = 0;
    check_mpi(MPI_Test(&r, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (!done) break;
  }
#endif
}

void Communicator::abort(int code) {
#if UNRAVEL_HAVE_MPI
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

Communicator& world() {
  auto& w = world_slot();
  if (!w) w.reset(new Communicator());
  return *w;
}

bool world_is_parallel() {
  const auto& w = world_slot();
  return w && w->parallel();
}

}  // namespace unravel::dist
