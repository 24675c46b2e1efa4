// The processes of one data-parallel run (`mpirun -np N unravel train …`) and the few
// collectives data-parallel training needs. This header is the only one that stands for MPI:
// no MPI type appears in it, and a build without MPI (meson -Dmpi=disabled, or no MPI found)
// compiles the same interface as a single process.
//
// MPI is initialised only when a launcher started this process (OMPI_COMM_WORLD_SIZE,
// PMI_SIZE or PMIX_RANK in the environment) and only the first time world() is called, so a
// plain `unravel` start never pays for MPI_Init. A build without MPI refuses to run as one of
// N > 1 launched processes rather than train N copies of the same run side by side.
//
// Every collective is timed (seconds()): the measure of communication against step time. With
// UNRAVEL_DIST_TIMING=1 in the environment each collective is preceded by a barrier timed apart
// (wait_seconds(): load imbalance between processes), so seconds() is the transfer alone.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

namespace unravel::dist {

/// True when this build has MPI.
bool have_mpi();
/// The process count a launcher announced in the environment (1 when not launched by one, −1
/// when launched with a count only MPI can tell); reads the environment only.
int launched_size();

class Communicator {
 public:
  /// This process's rank in 0..size()−1 and the number of processes.
  int rank() const { return rank_; }
  int size() const { return size_; }
  /// True when more than one process takes part.
  bool parallel() const { return size_ > 1; }
  /// This process's rank among the processes on its machine (MPI_COMM_TYPE_SHARED), and their
  /// number: a process picks its accelerator by it (cuda:local_rank).
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }

  /// Every rank's `bytes` bytes from `send`, concatenated in rank order into `recv`
  /// (size()·bytes bytes). A single process copies.
  void allgather(const void* send, size_t bytes, void* recv);
  /// Rank r's block q (`bytes` bytes at send + q·bytes) to rank q, which receives it as block r
  /// of recv (size()·bytes bytes): MPI_Alltoall. A single process copies.
  void alltoall(const void* send, size_t bytes, void* recv);
  /// Element-wise sum over the ranks of n floats, in place (MPI_Allreduce: the order in which
  /// the ranks' values are added is the MPI library's, so the bits can depend on N).
  void allreduce_sum(float* data, size_t n);
  /// The largest of every rank's v (agreeing on a stop request).
  int64_t allreduce_max(int64_t v);
  void barrier();

  /// Non-blocking forms of the three collectives above (MPI-3 MPI_Iallgather, MPI_Ialltoall,
  /// MPI_Iallreduce), for overlapping an exchange with computation: the buffers must stay put
  /// until wait() or a true test(). Open MPI advances them only inside MPI calls, so a caller
  /// that overlaps calls progress() now and then. A single process completes them at once.
  /// MPI matches collectives by the order in which each process starts them: on one `lane`
  /// every process must start them in the same order, while the lanes (kLanes duplicates of the
  /// world communicator) are independent of each other and of the blocking collectives above.
  static constexpr int kLanes = 2;
  using Request = int64_t;
  Request iallgather(const void* send, size_t bytes, void* recv, int lane = 0);
  Request ialltoall(const void* send, size_t bytes, void* recv, int lane = 0);
  Request iallreduce_sum(float* data, size_t n, int lane = 0);
  /// True once r has completed (it is then released); advances every pending operation.
  bool test(Request r);
  /// Returns when r has completed (timed into seconds(): the exchange that was not hidden).
  void wait(Request r);
  /// Advances the pending operations without waiting (MPI_Testsome over them).
  void progress();

  /// Seconds spent inside the collectives above since the process started (waiting for slower
  /// ranks included; for the non-blocking ones, the time to start them and in wait()), and how
  /// many were called.
  double seconds() const { return seconds_; }
  int64_t calls() const { return calls_; }
  /// With UNRAVEL_DIST_TIMING=1: seconds in the barriers before the collectives (else 0).
  double wait_seconds() const { return wait_seconds_; }

  /// Ends every process of the run with `code` (MPI_Abort); a single process exits.
  [[noreturn]] void abort(int code);

  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;
  ~Communicator();

 private:
  friend Communicator& world();
  Communicator();
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  bool initialised_ = false;  ///< this object called MPI_Init (and so calls MPI_Finalize)
  bool split_wait_ = false;  ///< UNRAVEL_DIST_TIMING: a timed barrier before each collective
  double seconds_ = 0, wait_seconds_ = 0;
  int64_t calls_ = 0;
  struct Pending;  ///< the MPI requests in flight (communicator.cpp)
  std::unique_ptr<Pending> pending_;
  void wait_for_others();
  /// allgather (false) or alltoall (true): the same arguments, `bytes` per process.
  void exchange_bytes(bool alltoall, const void* send, size_t bytes, void* recv);
  /// iallgather (false) or ialltoall (true): the same arguments, `bytes` per process.
  Request start_bytes(bool alltoall, const void* send, size_t bytes, void* recv, int lane);
};

/// The world communicator: initialises MPI on first use when launched by mpirun; a single
/// process otherwise. Throws when launched as one of N > 1 processes without MPI support.
Communicator& world();
/// True once world() has initialised MPI with more than one process (an error handler calls
/// abort() then, so the other ranks do not wait forever in a collective).
bool world_is_parallel();

}  // namespace unravel::dist
