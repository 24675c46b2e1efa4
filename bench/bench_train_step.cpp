// Training-step benchmark (issue 7): steps/s and images/s of full training steps of the three
// reference models of /shared/reference/baseline.md, encode-only throughput, peak RSS, and the
// time from process start to the first finished step.
//
// One training step is the library's TrainStep (objectives/training/train_step.h), the one
// `unravel train` runs: forward → KL once → the constant-β controller (β = 4) → the objective
// (beta-vae, or --objective NAME; factor-vae includes its discriminator update) → backward → Adam.
// As in `unravel train` between log steps, nothing is read back during the timed steps; each
// timed repetition ends with a device synchronisation. The batch is fixed random data
// (Bernoulli(0.5) pixels for the conv models, N(0, 1) points for pinwheel), so no data loading is
// timed. --device sim runs it on the stand-in device (a check that the step is device-clean,
// not a speed figure).
//
// Before timing, each configuration is validated: 20 steps on its fixed batch must lower the
// loss. Then `reps` repetitions of `steps` steps each (calibrated to ≥ 0.5 s unless --steps is
// given) are timed; median/min/max of steps/s are reported. Achieved GFLOP/s uses baseline.md's
// FLOPs per sample (training ≈ 3 × forward; encode = the encoder's forward) and is compared with
// the sgemm peak measured here (1024³ dnnl_sgemm at the same thread count).
//
// Usage: bench_train_step [--model conv64|fashion28|broadcast|pinwheel|all] [--batch N] [--encode]
//                         [--objective NAME] [--device cpu|sim|cuda] [--graph] [--reps R] [--steps S]
//                         [--threads T] [--peak GFLOPS] [--first-step] [--csv PATH]
//                         [--isa base,avx2,avx512] [--kernels]
//   default: every configuration of issue 7 (conv64 64 and 256, fashion28 128, pinwheel 128,
//   conv64 encode 1024) and the main job's net (broadcast 64). --first-step builds the model,
//   runs one step on a batch and prints the seconds since process start (kernel start time from
//   /proc/self/stat, and since main()).
// --isa LIST times each training configuration under each listed ISA variant of the CPU loops
//   (set_cpu_isa), the variants interleaved rep by rep in one process, one CSV row each; by
//   default the variant picked at start-up (UNRAVEL_CPU_ISA or the most capable). The last CSV
//   column names the variant a row ran with.
// --kernels (with --device sim) prints one step's Backend calls per kernel family, with the
//   families the CUDA backend lacks declined, and with --graph the kernels a recorded step
//   replays: what a CUDA graph of the step launches.
// CSV to stdout and to --csv PATH.
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench.h"
#include "engine/check.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/grad_mode.h"
#include "engine/sim/sim_backend.h"
#include "models/optim/adam.h"
#include "models/vae.h"
#include "objectives/registry.h"
#include "objectives/training/train_step.h"
#include "ops/ops.h"

using namespace unravel;

namespace {

using Clock = std::chrono::steady_clock;
const Clock::time_point g_main_start = Clock::now();

/// Seconds since the kernel started this process (/proc/self/stat field 22, in clock ticks,
/// against CLOCK_BOOTTIME); 10 ms resolution. Negative when /proc is unreadable.
double seconds_since_process_start() {
  std::ifstream f("/proc/self/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t close = s.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(s.substr(close + 2));
  std::string field;
  // Fields after the command name start at field 3 (state); starttime is field 22.
  for (int i = 3; i < 22 && (rest >> field); ++i) {
  }
  unsigned long long start_ticks = 0;
  if (!(rest >> start_ticks)) return -1;
  timespec now{};
  clock_gettime(CLOCK_BOOTTIME, &now);
  return now.tv_sec + now.tv_nsec * 1e-9 - static_cast<double>(start_ticks) / sysconf(_SC_CLK_TCK);
}

double seconds_since_main() {
  return std::chrono::duration<double>(Clock::now() - g_main_start).count();
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;  // ru_maxrss is in KiB on Linux
}

/// Training FLOPs per sample (3 × 2 × forward MACs; baseline.md's figures for the conv models),
/// encode FLOPs per sample (2 × the encoder's MACs: convs 0.524 + 4.194 + 2.097 + 1.049 M, FCs
/// 0.262 + 0.066 + 0.005 M). The project's pinwheel-mlp has ONE hidden layer of 100 (2→100,
/// heads 100→2 ×2; decoder 2→100→2: 1000 MACs), not baseline.md's 2-100-100 (21.2 k MACs).
double train_flops_per_sample(const std::string& model) {
  if (model == "conv64") return 98.35e6;
  if (model == "fashion28") return 30.34e6;
  // broadcast (the main job's net): encoder 6.231 M MACs as Burgess et al.'s; decoder 3×3 convs
  // 12→32 and 32→32 on 16×16 (0.885 + 2.359 M), ConvT 32→32 to 32×32 (4.194 M), 32→1 (0.524 M).
  if (model == "broadcast") return 6.0 * 14.194e6;
  return 6.0e3;
}
constexpr double kConv64EncodeFlops = 2.0 * 8.197e6;

/// A model, its TrainStep and a fixed batch.
struct Trainer {
  std::shared_ptr<models::Vae> vae;
  std::unique_ptr<TrainStep> trainer;
  Tensor x;
  Generator gen{1234};

  Trainer(const std::string& model, int64_t batch, const std::string& objective = "beta-vae",
          Device device = kCPU, Precision precision = Precision::fp32, bool graph = false) {
    Generator init(42);
    int64_t latents = 10;
    if (model == "conv64") {
      vae = models::make_vae("conv64", 10, init);
    } else if (model == "fashion28") {
      latents = 50;
      vae = models::make_vae("fashion28", 50, init);
    } else if (model == "broadcast") {
      vae = models::make_vae("broadcast", 10, init);
    } else {
      UNRAVEL_CHECK(model == "pinwheel", "bench_train_step: unknown model '{}' (conv64, "
                                         "fashion28, broadcast, pinwheel)", model);
      latents = 2;
      vae = models::make_vae("pinwheel-mlp", 2, init, 1, "gaussian", 1.0);
    }
    Shape s{batch};
    for (int64_t d : vae->data_shape()) s.push_back(d);
    Generator data(7);
    x = model == "pinwheel" ? normal(s, data, 0.0, 1.0) : bernoulli(s, 0.5, data);
    x = to(x, device);
    Params op;
    if (objective == "factor-vae") op = {{"latent", static_cast<double>(latents)}};
    if (objective == "beta-tcvae") op = {{"dataset_size", 737280}};
    std::shared_ptr<Prior> prior = make_prior("iso", {{"dim", static_cast<double>(latents)}});
    std::shared_ptr<Objective> obj = make_objective(objective, op, "kld_inc", &init);
    std::shared_ptr<Controller> controller = make_controller("constant", {{"beta", 4.0}});
    auto state = std::make_shared<TrainState>(vae, prior, obj);
    state->to(device);
    controller->to(device);
    auto adam = [](TensorList p) {
      return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.lr = 1e-3});
    };
    trainer = std::make_unique<TrainStep>(state, controller, adam, adam,
                                          TrainStepOptions{1, precision, graph});
  }

  /// One training step, nothing read back.
  void step() { trainer->step(x, gen); }
  /// One training step; returns its loss (before the update), read back.
  double step_loss() { return trainer->step(x, gen).terms.total.item(); }
  void sync() { backend(x.device()).synchronize(); }
};

/// Median/min/max of per-rep rates (items per second).
struct Rates {
  double median = 0, min = 0, max = 0;
};
Rates summarise(std::vector<double> r) {
  std::sort(r.begin(), r.end());
  return {r[r.size() / 2], r.front(), r.back()};
}

/// The sgemm peak: 1024³ dnnl_sgemm at the current thread count, best of 30 after warm-up.
double measure_sgemm_peak() {
  const int64_t n = 1024;
  std::vector<float> a(n * n, 0.5f), b(n * n, 0.25f), c(n * n, 0.0f);
  auto once = [&] {
    dnnl_sgemm('N', 'N', n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  };
  once();
  bench::require(std::fabs(c[12345] - 0.125f * n) < 1e-3f * n, "sgemm 1024^3 result");
  bench::Timing t = bench::time_it(once, 30, 1, 3);
  return 2.0 * n * n * n / t.min * 1e-9;
}

struct Options {
  std::string model = "all";
  int64_t batch = 0;
  bool encode = false;
  int reps = 5;
  int steps = 0;
  int threads = 0;
  double peak = 0;
  bool first_step = false;
  std::string csv;
  std::string objective = "beta-vae";
  std::string device = "cpu";
  std::string precision = "fp32";
  bool graph = false;
  bool kernels = false;
  std::vector<std::string> isas;  // empty: the active variant only
};

const char* kHeader =
    "model,mode,batch,threads,reps,steps_per_rep,steps_s_median,steps_s_min,steps_s_max,"
    "images_s_median,gflops_median,peak_fraction,sgemm_peak_gflops,peak_rss_mib,first_loss,"
    "last_loss,flops_per_step,cpu_isa,steal_pct";

void run_train(const Options& o, const std::string& model, int64_t batch, double peak,
               bench::Csv& csv) {
  Trainer tr(model, batch, o.objective, Device::parse(o.device), parse_precision(o.precision),
             o.graph);
  // Validation (also the warm-up): 20 steps on the fixed batch must lower the loss.
  double first = tr.step_loss(), last = first;
  for (int i = 1; i < 20; ++i) last = tr.step_loss();
  bench::require(std::isfinite(last) && last < first,
                 fmt::format("{} batch {}: loss did not decrease over 20 steps ({} -> {})", model,
                             batch, first, last));
  int steps = o.steps;
  if (steps <= 0) {
    auto t0 = Clock::now();
    tr.step();
    tr.sync();
    double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    steps = std::max(3, static_cast<int>(std::ceil(0.5 / std::max(dt, 1e-6))));
  }
  // Reps interleave the ISA variants, so a change of machine load hits all of them alike.
  const std::string active = cpu_isa();
  const std::vector<std::string> isas = o.isas.empty() ? std::vector{active} : o.isas;
  std::vector<std::vector<double>> rates(isas.size());
  std::vector<double> steal(isas.size(), 0.0), total(isas.size(), 0.0);  // /proc/stat ticks
  for (int r = 0; r < o.reps; ++r)
    for (size_t k = 0; k < isas.size(); ++k) {
      set_cpu_isa(isas[k]);
      const bench::CpuTimes c0 = bench::read_cpu_times();
      auto t0 = Clock::now();
      for (int i = 0; i < steps; ++i) tr.step();
      tr.sync();
      rates[k].push_back(steps / std::chrono::duration<double>(Clock::now() - t0).count());
      const bench::CpuTimes c1 = bench::read_cpu_times();
      steal[k] += c1.steal - c0.steal;
      total[k] += c1.total - c0.total;
    }
  set_cpu_isa(active);
  last = tr.step_loss();
  bench::require(std::isfinite(last), fmt::format("{}: loss became {}", model, last));
  for (size_t k = 0; k < isas.size(); ++k) {
    Rates s = summarise(rates[k]);
    double gflops = s.median * batch * train_flops_per_sample(model) * 1e-9;
    std::string mode = o.objective == "beta-vae" ? "train" : "train:" + o.objective;
    if (o.precision != "fp32") mode += ":" + o.precision;
    if (o.graph) mode += ":graph";
    csv.row(fmt::format("{},{},{},{},{},{},{:.3f},{:.3f},{:.3f},{:.1f},{:.2f},{:.4f},{:.1f},{:.1f},"
                        "{:.6g},{:.6g},{:.6g},{},{:.1f}",
                        model, mode, batch, omp_get_max_threads(), o.reps, steps, s.median, s.min,
                        s.max, s.median * batch, gflops, peak > 0 ? gflops / peak : 0.0, peak,
                        peak_rss_mib(), first, last, batch * train_flops_per_sample(model),
                        isas[k], total[k] > 0 ? 100 * steal[k] / total[k] : 0.0));
  }
}

void run_encode(const Options& o, int64_t batch, double peak, bench::Csv& csv) {
  Trainer tr("conv64", batch, "beta-vae", Device::parse(o.device), parse_precision(o.precision));
  NoGradGuard ng;
  PrecisionGuard pg(parse_precision(o.precision));  // the matrix kernels' precision, as in training
  tr.vae->eval();
  // Validation: the posterior mean is finite and depends on the input (two halves differ).
  Tensor mu = tr.vae->encode(tr.x).mean();
  bench::require(mu.shape() == Shape{batch, 10}, "encode: posterior mean shape");
  double s0 = sum(abs(mu)).item();
  bench::require(std::isfinite(s0) && s0 > 0, "encode: posterior mean is finite and non-zero");
  double diff = sum(abs(slice(mu, 0, 0, 1) - slice(mu, 0, 1, 2))).item();
  bench::require(diff > 0, "encode: different images give different codes");
  for (int i = 0; i < 2; ++i) sum(tr.vae->encode(tr.x).mean()).item();
  int steps = o.steps;
  if (steps <= 0) {
    auto t0 = Clock::now();
    tr.vae->encode(tr.x).mean();
    double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    steps = std::max(3, static_cast<int>(std::ceil(0.5 / std::max(dt, 1e-6))));
  }
  std::vector<double> rates;
  for (int r = 0; r < o.reps; ++r) {
    auto t0 = Clock::now();
    for (int i = 0; i < steps; ++i) mu = tr.vae->encode(tr.x).mean();
    tr.sync();
    rates.push_back(steps / std::chrono::duration<double>(Clock::now() - t0).count());
  }
  Rates s = summarise(rates);
  double gflops = s.median * batch * kConv64EncodeFlops * 1e-9;
  const std::string mode = o.precision == "fp32" ? "encode" : "encode:" + o.precision;
  csv.row(fmt::format("conv64,{},{},{},{},{},{:.3f},{:.3f},{:.3f},{:.1f},{:.2f},{:.4f},{:.1f},"
                      "{:.1f},,,{:.6g},{},",
                      mode, batch, omp_get_max_threads(), o.reps, steps, s.median, s.min, s.max,
                      s.median * batch, gflops, peak > 0 ? gflops / peak : 0.0, peak,
                      peak_rss_mib(), batch * kConv64EncodeFlops, cpu_isa()));
}

/// --kernels: the Backend calls of one training step per kernel family, on sim with the families
/// the CUDA backend does not offer declined (so ops take the paths they take on a GPU), and the
/// kernels a recorded step holds (--graph). On a GPU a captured step launches about one kernel
/// per call (cuDNN and cuBLAS calls may launch more), so this counts what a CUDA graph of the
/// step holds: the launch-bound part of a small-batch step.
void count_kernels(const Options& o, const std::string& model, int64_t batch) {
  bench::require(o.device == "sim", "--kernels counts on the stand-in device: add --device sim");
  sim_decline(Kernel::conv2d_forward_relu, true);  // as CudaBackend::supports
  sim_decline(Kernel::layout_convert, true);
  Trainer tr(model, batch, o.objective, Device::parse(o.device), parse_precision(o.precision),
             o.graph);
  double first = tr.step_loss(), last = first;
  for (int i = 1; i < 5; ++i) last = tr.step_loss();
  bench::require(std::isfinite(last), fmt::format("{}: loss became {}", model, last));
  tr.sync();
  sim_reset_stats();
  tr.step();
  tr.sync();
  const SimStats s = sim_stats();
  std::printf("%s batch %lld, objective %s%s%s: one step\n", model.c_str(),
              static_cast<long long>(batch), o.objective.c_str(),
              o.precision == "fp32" ? "" : (", " + o.precision).c_str(), o.graph ? ", graph" : "");
  std::vector<std::pair<uint64_t, int>> order;
  uint64_t calls = 0;
  for (int k = 0; k < kNumKernels; ++k)
    if (s.calls[k] > 0 && static_cast<Kernel>(k) != Kernel::conv2d_bf16) {
      order.emplace_back(s.calls[k], k);
      calls += s.calls[k];
    }
  std::sort(order.rbegin(), order.rend());
  for (auto& [n, k] : order)
    std::printf("  %-24s %6llu\n", kernel_name(static_cast<Kernel>(k)),
                static_cast<unsigned long long>(n));
  if (o.graph) std::printf("  (a replay makes no Backend calls: run without --graph for the families)\n");
  else std::printf("  %-24s %6llu\n", "Backend calls", static_cast<unsigned long long>(calls));
  std::printf("  queued operations (kernels, device copies) %llu; host reads %llu\n",
              static_cast<unsigned long long>(s.kernels), static_cast<unsigned long long>(s.host_reads));
  if (o.graph)
    std::printf("  recorded kernels replayed per step: %zu\n", tr.trainer->recorded_kernels());
}

int64_t default_batch(const std::string& model, bool encode) {
  if (encode) return 1024;
  return model == "conv64" || model == "broadcast" ? 64 : 128;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      bench::require(i + 1 < argc, a + " needs a value");
      return argv[++i];
    };
    if (a == "--model") o.model = value();
    else if (a == "--batch") o.batch = std::stoll(value());
    else if (a == "--encode") o.encode = true;
    else if (a == "--reps") o.reps = std::stoi(value());
    else if (a == "--steps") o.steps = std::stoi(value());
    else if (a == "--threads") o.threads = std::stoi(value());
    else if (a == "--peak") o.peak = std::stod(value());
    else if (a == "--first-step") o.first_step = true;
    else if (a == "--csv") o.csv = value();
    else if (a == "--objective") o.objective = value();
    else if (a == "--device") o.device = value();
    else if (a == "--precision") o.precision = value();
    else if (a == "--graph") o.graph = true;
    else if (a == "--kernels") o.kernels = true;
    else if (a == "--isa") {
      std::stringstream list(value());
      for (std::string name; std::getline(list, name, ',');) o.isas.push_back(name);
    }
    else if (a == "-h" || a == "--help") {
      std::printf("usage: bench_train_step [--model conv64|fashion28|broadcast|pinwheel|all] [--batch N] "
                  "[--encode] [--objective NAME] [--device cpu|sim|cuda] [--precision fp32|bf16] [--graph] "
                  "[--reps R] [--steps S] [--threads T] [--peak GFLOPS] [--first-step] [--csv PATH] "
                  "[--isa base,avx2,avx512] [--kernels]\n");
      std::exit(0);
    } else {
      bench::require(false, "unknown argument '" + a + "' (see --help)");
    }
  }
  bench::require(o.reps >= 1, "--reps must be >= 1");
  bench::require(o.model != "all" || o.batch == 0, "--batch needs --model");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  if (o.threads > 0) omp_set_num_threads(o.threads);
  const std::string start_isa = cpu_isa();  // UNRAVEL_CPU_ISA or the most capable
  for (const std::string& isa : o.isas) set_cpu_isa(isa);  // refuse a bad name before any work
  set_cpu_isa(start_isa);
  std::fprintf(stderr, "bench_train_step: CPU loops %s (this CPU runs %s)\n", cpu_isa().c_str(),
               fmt::format("{}", fmt::join(cpu_isas(), ", ")).c_str());
  if (o.first_step) {
    std::string model = o.model == "all" ? "conv64" : o.model;
    int64_t batch = o.batch > 0 ? o.batch : default_batch(model, false);
    Trainer tr(model, batch, o.objective, Device::parse(o.device), parse_precision(o.precision));
    double loss = tr.step_loss();
    double since_start = seconds_since_process_start(), since_main = seconds_since_main();
    bench::require(std::isfinite(loss), "first step: loss is finite");
    std::printf("model,batch,threads,first_step_s_since_process_start,first_step_s_since_main,"
                "peak_rss_mib,cpu_isa\n%s,%lld,%d,%.3f,%.4f,%.1f,%s\n",
                model.c_str(), static_cast<long long>(batch), omp_get_max_threads(), since_start,
                since_main, peak_rss_mib(), cpu_isa().c_str());
    return 0;
  }
  if (o.kernels) {
    std::string model = o.model == "all" ? "conv64" : o.model;
    count_kernels(o, model, o.batch > 0 ? o.batch : default_batch(model, false));
    return 0;
  }
  // The CPU sgemm peak is the reference only for CPU runs.
  double peak = o.peak > 0 ? o.peak : Device::parse(o.device).is_cpu() ? measure_sgemm_peak() : 0.0;
  bench::Csv csv(kHeader, o.csv);
  if (o.model == "all") {
    run_train(o, "conv64", 64, peak, csv);
    run_train(o, "conv64", 256, peak, csv);
    run_train(o, "fashion28", 128, peak, csv);
    run_train(o, "broadcast", 64, peak, csv);
    run_train(o, "pinwheel", 128, peak, csv);
    Options fv = o;
    fv.objective = "factor-vae";  // the discriminator update included
    run_train(fv, "conv64", 64, peak, csv);
    run_encode(o, 1024, peak, csv);
  } else {
    int64_t batch = o.batch > 0 ? o.batch : default_batch(o.model, o.encode);
    if (o.encode) {
      bench::require(o.model == "conv64", "--encode is measured for conv64 only");
      run_encode(o, batch, peak, csv);
    } else {
      run_train(o, o.model, batch, peak, csv);
    }
  }
  return 0;
}
