#!/usr/bin/env python3
"""Hand-written mutants of the science code and the engine beneath it: does a test fail when the
code is wrong?

Groups: M–U the science (estimators, controllers, objectives, metrics, optimisers, datasets,
figures); V the CUDA kernels' bodies, which CI runs only through the host emulation of the launch
grid; W the core ops' gradients and densities; X the CPU's vector math, bf16 rounding and view
gradients; Y the CPU kernels (reductions, blocked layouts, index checks); Z the batcher and
checkpoint loading. A mutant must be a real bug: one that no input can tell apart from the
original (an "equivalent" mutant, such as a redundant barrier) proves nothing and is replaced.

Each mutant replaces one exact snippet of a source file with a plausible bug (a dropped term, a
swapped sign, a wrong constant) and names the test executables that should notice. The script
applies one mutant at a time in a separate git worktree (never in your checkout), rebuilds those
tests there with Meson/ninja (ccache makes it quick), runs them, reverts, and prints whether the
mutant was killed (some test failed) or survived (every test passed: a gap in the tests).

    python3 scripts/mutants.py                 # all mutants (~35 min on 2 cores with ccache warm;
                                               # the V group ~1 min each, most others seconds)
    python3 scripts/mutants.py M1 Q4           # some, by id
    python3 scripts/mutants.py --list

A snippet that no longer matches exactly once is reported as STALE: update the mutant with
the code. Exit status 1 when a mutant survived, is stale or does not compile. The worktree is kept in
$UNRAVEL_MUTANT_TREE (default /tmp/unravel-mutants) between runs.
"""
import os
import subprocess
import sys
import time

CE = ["test_cuda_emulated"]  # the CUDA kernel bodies under the host emulation
APPS = {"test_apps", "test_train", "test_reproduce", "test_mpi", "test_tensorboard"}

# (id, what the bug is, file, exact snippet, replacement, test executables)
MUTANTS = [
    ("M1", "β-TCVAE MSS: the designated weight S replaced by 1/m", "objectives/divergences.cpp",
     "w[static_cast<size_t>(i * batch + (i + 1) % batch)] = s;",
     "w[static_cast<size_t>(i * batch + (i + 1) % batch)] = 1.0 / m;", ["test_objectives"]),
    ("M2", "β-TCVAE MWS: log(B·N) constant as log(N)", "objectives/divergences.cpp",
     "const double c = std::log(static_cast<double>(b) * static_cast<double>(dataset_size));",
     "const double c = std::log(static_cast<double>(dataset_size));", ["test_objectives"]),
    ("M3", "ControlVAE PI: the error's sign in the P term", "objectives/controllers/pi_controllers.cpp",
     "Tensor p = kp_ / (exp(e) + 1.0) + beta_min_;", "Tensor p = kp_ / (exp(-e) + 1.0) + beta_min_;",
     ["test_objectives"]),
    ("M4", "ControlVAE PI: anti-windup inverted", "objectives/controllers/pi_controllers.cpp",
     "where(lt(prev_, scalar_like(beta_min_, prev_)), i_, i_ + e * ki_)",
     "where(gt(prev_, scalar_like(beta_min_, prev_)), i_, i_ + e * ki_)", ["test_objectives"]),
    ("M5", "linear capacity: C not clamped to C_max", "objectives/controllers/schedules.cpp",
     "set(c_, clamp(c, c_start_, c_max_))", "set(c_, c)", ["test_objectives"]),
    ("M6", "capacity objective: γ(KL − C) without the absolute value", "objectives/losses/elbo_objectives.cpp",
     "Tensor cap = abs(kl_mean - c) * gamma_;", "Tensor cap = (kl_mean - c) * gamma_;", ["test_objectives"]),
    ("M7", "histogram MIG not normalised by the factor's entropy", "objectives/metrics/mig.cpp",
     "normed[j] = mi / h;", "normed[j] = mi;", ["test_metrics"]),
    ("M8", "Adam: second-moment bias correction dropped", "ops/optim_functors.h",
     "h.bc2_sqrt = sqrt(1 - pow(h.beta2, t));", "h.bc2_sqrt = 1.0;", ["test_optim"]),
    ("M9", "Student-t prior: −log scale missing from the constant", "objectives/priors/student_t.cpp",
     "0.5 * std::log(nu * std::numbers::pi) - std::log(scale_);", "0.5 * std::log(nu * std::numbers::pi);",
     ["test_objectives"]),
    ("M10", "Philox with 9 rounds", "engine/philox.h", "for (int r = 0; r < 10; ++r) {",
     "for (int r = 0; r < 9; ++r) {", ["test_engine"]),
    ("M11", "β-TCVAE: TC weighted by β − 1", "objectives/losses/elbo_objectives.cpp",
     "tc * match_like(schedule.beta, tc)", "tc * (match_like(schedule.beta, tc) - 1.0)", ["test_objectives"]),
    ("M12", "per-latent KL without the −1", "apps/common/encoding.cpp",
     "kl[j] += 0.5 * (a * a + std::exp(b) - b - 1.0);", "kl[j] += 0.5 * (a * a + std::exp(b) - b);",
     ["test_apps"]),
    ("N1", "Adam: L2 weight decay term dropped", "ops/optim_functors.h",
     "if constexpr (kL2) g += c.wd * p;", "if constexpr (kL2) g += T(0) * p;", ["test_optim"]),
    ("N2", "SGD: Nesterov as plain momentum", "ops/optim_functors.h",
     "d = nesterov ? d + c.mu * *buf : *buf;", "d = *buf;", ["test_optim"]),
    ("N3", "SGD: dampening ignored", "ops/optim_functors.h",
     "*buf = first ? d : c.mu * *buf + c.damp * d;", "*buf = first ? d : c.mu * *buf + d;", ["test_optim"]),
    ("N4", "clip_grad_norm_ scales small gradients up", "models/optim/clip_grad.cpp",
     "Tensor scale = where(finite, minimum(coef, scalar_like(1.0, coef)), scalar_like(1.0, coef));",
     "Tensor scale = where(finite, coef, scalar_like(1.0, coef));", ["test_optim"]),
    ("N5", "MMD: biased within-sample term (1/B for 1/(B−1))", "objectives/divergences.cpp",
     "Tensor within = (kxx + kyy - 2.0 * bd * diag) * (1.0 / (bd - 1.0));",
     "Tensor within = (kxx + kyy - 2.0 * bd * diag) * (1.0 / bd);", ["test_objectives"]),
    ("N6", "KL annealing ramp ignores its ratio", "objectives/controllers/schedules.cpp",
     "Tensor ramp = minimum(scalar_like(1.0, t), tau / scalar_like(ratio_, t));",
     "Tensor ramp = minimum(scalar_like(1.0, t), tau);", ["test_objectives"]),
    ("N7", "spike-and-slab: the weights swapped", "objectives/priors/spike_slab.cpp",
     "Tensor a = gaussian_log_density_scale(z, zero, spike_) + std::log(gamma_);",
     "Tensor a = gaussian_log_density_scale(z, zero, spike_) + std::log1p(-gamma_);", ["test_objectives"]),
    ("N8", "batcher restore ignores the position", "datasets/batcher.cpp",
     "  start_epoch();\n  position_ = s.position;", "  start_epoch();\n  position_ = 0;", ["test_datasets"]),
    ("N9", "dSprites ellipse axes swapped", "datasets/dsprites.cpp",
     "[ia, ib](double u, double v) { return u * u * ia + v * v * ib <= 1.0; }",
     "[ia, ib](double u, double v) { return u * u * ib + v * v * ia <= 1.0; }", ["test_datasets"]),
    ("N10", "mixture prior: log-weights not normalised", "objectives/priors/mixture.cpp",
     "return weight_logits_ - logsumexp(weight_logits_, {0}, true);", "return weight_logits_;",
     ["test_objectives"]),
    ("N11", "clip_grad_value_ clips one side only", "models/optim/clip_grad.cpp",
     "copy_(g, clamp(g, -clip, clip));", "copy_(g, clamp(g, -1e30, clip));", ["test_optim"]),
    ("N12", "monotonic KL annealing restarts", "objectives/controllers/schedules.cpp",
     "Tensor tau = monotonic_ ? k / p : fmod(k, p) / p;", "Tensor tau = fmod(k, p) / p;", ["test_objectives"]),
    ("N13", "dSprites rotation clockwise", "datasets/dsprites.cpp",
     "const double u = ct * dx + st * dy;\n      const double v = -st * dx + ct * dy;",
     "const double u = ct * dx - st * dy;\n      const double v = st * dx + ct * dy;", ["test_datasets"]),
    ("P1", "FactorVAE score: variances not normalised per latent", "objectives/metrics/vote_scores.cpp",
     "double r = column_var(z, batch, D, active[a]) / gvar[active[a]];",
     "double r = column_var(z, batch, D, active[a]);", ["test_metrics"]),
    ("P2", "rsample: σ² in place of σ", "ops/distributions.cpp",
     "  return mu_ + scale_ * randn_like(mu_, gen);", "  return mu_ + scale_ * scale_ * randn_like(mu_, gen);",
     ["test_objectives"]),
    ("P3", "posterior σ = exp(logvar)", "ops/distributions.cpp", "q.scale_ = exp(logvar * 0.5);",
     "q.scale_ = exp(logvar);", ["test_objectives"]),
    ("P4", "tape: fan-in overwrites instead of summing", "engine/tape.cpp",
     "      slot = sum_grads(slot, g);", "      slot = g;", ["test_engine"]),
    ("P5", "sum_to leaves a leading axis unreduced", "ops/broadcast.cpp",
     "for (int i = 0; i < lead; ++i) axes.push_back(i);", "for (int i = 1; i < lead; ++i) axes.push_back(i);",
     ["test_engine"]),
    ("P6", "cosine learning rate over half a period", "models/optim/lr_schedule.cpp",
     "(1 + std::cos(std::numbers::pi * double(step) / double(total_))) / 2;",
     "(1 + std::cos(std::numbers::pi * double(step) / double(total_) / 2)) / 2;", ["test_optim"]),
    ("Q1", "batch norm: biased running variance", "ops/nn_ops.cpp",
     "(static_cast<double>(M) / static_cast<double>(M - 1));", "1.0;", ["test_ops_nn"]),
    ("Q2", "batch norm: momentum applied the wrong way round", "ops/nn_ops.cpp",
     "    mul_(running_mean, 1.0 - momentum);\n    add_(running_mean, save_mean, momentum);",
     "    mul_(running_mean, momentum);\n    add_(running_mean, save_mean, 1.0 - momentum);", ["test_ops_nn"]),
    ("Q3", "IWAE without − log K", "objectives/losses/iwae.cpp",
     "return logsumexp(lw, {0}) - std::log(static_cast<double>(k));", "return logsumexp(lw, {0});",
     ["test_objectives"]),
    ("Q4", "FactorVAE discriminator: classes swapped", "objectives/losses/factor_vae.cpp",
     "Tensor loss = (mean(softplus(-dr)) + mean(softplus(dp))) * 0.5;",
     "Tensor loss = (mean(softplus(dr)) + mean(softplus(-dp))) * 0.5;", ["test_objectives"]),
    ("Q5", "Chen MIG: entropy without − log M", "objectives/metrics/mig_chen.cpp",
     "for (int64_t s = 0; s < S; ++s) acc += lse[j * S + s] - log_m;",
     "for (int64_t s = 0; s < S; ++s) acc += lse[j * S + s];", ["test_metrics"]),
    ("Q6", "softplus switches to x above 2", "ops/functors.h",
     "return x > T(20) ? x : (x < T(-20) ? exp(x) : log1p(exp(x)));",
     "return x > T(2) ? x : (x < T(-20) ? exp(x) : log1p(exp(x)));", ["test_ops_elementwise"]),
    ("Q7", "Kaiming uniform bound without √3", "models/nn/init.cpp",
     "double bound = std::sqrt(3.0) * calculate_gain(nl, a) / std::sqrt(double(f));",
     "double bound = calculate_gain(nl, a) / std::sqrt(double(f));", ["test_nn"]),
    ("Q8", "FactorVAE: the TC term's sign", "objectives/losses/factor_vae.cpp",
     "Tensor ratio = squeeze(slice(logits, 1, 0, 1), 1) - squeeze(slice(logits, 1, 1, 2), 1);",
     "Tensor ratio = squeeze(slice(logits, 1, 1, 2), 1) - squeeze(slice(logits, 1, 0, 1), 1);",
     ["test_objectives"]),
    ("R1", "adaptive capacity: holds C while β falls", "objectives/controllers/pi_controllers.cpp",
     "set(c_, where(gt(beta, prev_beta), c_, stepped));", "set(c_, where(lt(beta, prev_beta), c_, stepped));",
     ["test_objectives"]),
    ("R2", "generalised normal prior: − log Γ(1/p) missing", "objectives/priors/gen_normal.cpp",
     "const double c = std::log(power_) - std::log(2.0 * alpha_) - std::lgamma(1.0 / power_);",
     "const double c = std::log(power_) - std::log(2.0 * alpha_);", ["test_objectives"]),
    ("R3", "generalised normal samples all positive", "objectives/priors/gen_normal.cpp",
     "Tensor sign = where(lt(uniform(s, gen, 0.0, 1.0, dtype_, device()), 0.5),",
     "Tensor sign = where(lt(uniform(s, gen, 0.0, 1.0, dtype_, device()), 0.0),", ["test_objectives"]),
    ("R4", "pinwheel: rate·f₁ for rate·exp(f₁)", "datasets/pinwheel.cpp", "o.rate * std::exp(f1);",
     "o.rate * f1;", ["test_datasets"]),
    ("R5", "safetensors: a gap before a tensor accepted", "engine/io/safetensors.cpp",
     'UNRAVEL_CHECK(e.begin == expect, "', 'UNRAVEL_CHECK(true || e.begin == expect, "', ["test_io"]),
    ("R6", ".npy Fortran order ignored", "engine/io/npy.cpp",
     "if (!h.fortran_order || h.shape.size() < 2) {", "if (true || h.shape.size() < 2) {", ["test_io"]),
    ("S1", "non-finite flag keeps the latest bad step", "objectives/training/train_step.cpp",
     "copy_(first_bad_, minimum(first_bad_, count_ / bad));", "copy_(first_bad_, count_ / bad);",
     ["test_train_step"]),
    ("S2", "atomic file never renamed into place", "engine/io/atomic_file.cpp",
     "if (::rename(tmp_.c_str(), path_.c_str()) != 0) {",
     "if (::link(tmp_.c_str(), path_.c_str()) != 0 && false) {", ["test_io"]),
    ("S3", "one periodic checkpoint too many kept", "apps/train.cpp",
     "int64_t excess = static_cast<int64_t>(files.size()) - std::max<int64_t>(r.config.keep_checkpoints, 1);",
     "int64_t excess = static_cast<int64_t>(files.size()) - std::max<int64_t>(r.config.keep_checkpoints, 1) - 1;",
     ["test_train"]),
    ("T1", "DCI disentanglement: latents weighted equally, not by importance", "objectives/metrics/dci_sap.cpp",
     "const double rho = total > 0 ? w / total : 1.0 / static_cast<double>(D);",
     "const double rho = 1.0 / static_cast<double>(D);", ["test_metrics"]),
    ("T2", "DCI: entropy not in base K (or D)", "objectives/metrics/dci_sap.cpp",
     "return 1.0 - h / std::log(static_cast<double>(base));", "return 1.0 - h;", ["test_metrics"]),
    ("T3", "micro-shards: gradients summed, not averaged", "objectives/training/sharded_step.cpp",
     "const float scale = total_items_ == 1.0 ? 1.0f / static_cast<float>(m_) : 1.0f;",
     "const float scale = 1.0f;", ["test_train_step"]),
    ("T4", "SAP: the gaps summed, not averaged over factors", "objectives/metrics/dci_sap.cpp",
     "r.continuous += top_gap(c) / double(F);", "r.continuous += top_gap(c);", ["test_metrics"]),
    ("T5", "β-VAE score: the second batch does not share the factor", "objectives/metrics/vote_scores.cpp",
     "s.sample(L, k, fixed.data(), gen, z2.data(), nullptr);", "s.sample(L, -1, nullptr, gen, z2.data(), nullptr);",
     ["test_metrics"]),
    ("T6", "Hoyer sparsity: latents not divided by their std", "objectives/metrics/representation_stats.cpp",
     "inv[d] = sd > 0 ? 1.0 / sd : 0.0;", "inv[d] = sd > 0 ? 1.0 : 0.0;", ["test_metrics"]),
    ("T7", "IDX: sizes read little-endian", "datasets/idx.cpp",
     "return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);",
     "return (uint32_t(p[3]) << 24) | (uint32_t(p[2]) << 16) | (uint32_t(p[1]) << 8) | uint32_t(p[0]);",
     ["test_datasets"]),
    ("T8", "matmul: differing inner dimensions accepted", "ops/matmul.cpp",
     'UNRAVEL_CHECK(ka == kb, "matmul:', 'UNRAVEL_CHECK(true || ka == kb, "matmul:', ["test_ops_matmul"]),
    ("U1", "Gaussian KL to a prior of scale s without log s", "objectives/priors/prior.cpp",
     "return log(sp) - q.logvar() * 0.5 +", "return - q.logvar() * 0.5 +", ["test_objectives"]),
    ("U2", "kld_inc: log q(z) without − log B", "objectives/divergences.cpp",
     "- std::log(static_cast<double>(q.batch()));\n  return mean(p.log_prob_sum(zp) - log_q);",
     ";\n  return mean(p.log_prob_sum(zp) - log_q);", ["test_objectives"]),
    ("U3", "Mathieu: α·D not scaled to the batch sum", "objectives/losses/elbo_objectives.cpp",
     "t.total = t.total + d * (alpha_ * batch_scale(out));", "t.total = t.total + d * alpha_;",
     ["test_objectives"]),
    ("U4", "traversal rows in increasing KL", "apps/figures/image_figures.cpp",
     "return kl[a] > kl[b]; });", "return kl[a] < kl[b]; });", ["test_apps"]),
    ("U5", "a latent named for a factor without twice the runner-up's MI", "apps/figures/factor_figures.cpp",
     "r.best_nmi >= 2 * r.second_nmi", "r.best_nmi >= r.second_nmi", ["test_apps"]),
    ("U6", "DIP-VAE-II without the posterior variance", "objectives/losses/elbo_objectives.cpp",
     "return cov + unsqueeze(mean(q.variance(), {0}), 0) * eye_constant(mu.size(1), mu);", "return cov;",
     ["test_objectives"]),
    # The CUDA kernels' bodies (ops/cuda/*_body.h), which CI runs only through the host emulation
    # of the launch grid (tests/engine/test_cuda_emulated*.cpp): does that emulation see a bug?
    ("V1", "reduce block tree: no barrier between the threads' partials and the tree", "ops/cuda/reduce_body.h",
     "    smem[t] = acc;\n    ctx.sync();\n", "    smem[t] = acc;\n", CE),
    ("V2", "reduce block tree stops one level early", "ops/cuda/reduce_body.h",
     "    for (unsigned s = 1; s < threads; s *= 2) {\n      if ((t & (2 * s - 1)) == 0) smem[t] = combine",
     "    for (unsigned s = 1; s < threads / 2; s *= 2) {\n      if ((t & (2 * s - 1)) == 0) smem[t] = combine", CE),
    ("V3", "reduce: a chunk's end not cut at the reduction's length", "ops/cuda/reduce_body.h",
     "const int64_t end = begin + chunk < red_n ? begin + chunk : red_n;", "const int64_t end = begin + chunk;", CE),
    ("V4", "reduce: one reduced axis read as contiguous", "ops/cuda/reduce_body.h",
     "return red.rank == 1 ? k * red.strides[0] : red.offset(k);", "return red.rank == 1 ? k : red.offset(k);", CE),
    ("V5", "arg_reduce: ties go to the higher index", "ops/cuda/reduce_body.h",
     "  if (is_max ? a.v > b.v : a.v < b.v) return a;\n  return a.i < b.i ? a : b;",
     "  if (is_max ? a.v > b.v : a.v < b.v) return a;\n  return a.i > b.i ? a : b;", CE),
    ("V6", "arg_reduce: a number beats a NaN", "ops/cuda/reduce_body.h",
     "    return an ? a : b;", "    return an ? b : a;", CE),
    ("V7", "arg_reduce block: value and index arrays overlap", "ops/cuda/reduce_body.h",
     "T* sv = reinterpret_cast<T*>(si + threads);", "T* sv = reinterpret_cast<T*>(si + threads / 2);", CE),
    ("V8", "block_sum: no barrier after reading the total", "ops/cuda/kernel_common.h",
     "  const double r = sh[0];\n  ctx.sync();\n  return r;", "  const double r = sh[0];\n  return r;", CE),
    ("V9", "copy: a strided source taken for dense", "ops/cuda/elementwise_body.h",
     "src.contiguous() && dst.contiguous()}", "dst.contiguous()}", CE),
    ("V10", "binary, strided path: b read at a's offsets", "ops/cuda/elementwise_body.h",
     "f(a[as.offset(i)], b[bs.offset(i)], alpha)", "f(a[as.offset(i)], b[as.offset(i)], alpha)", CE),
    ("V11", "random: the recorded offset not read at run time", "ops/cuda/random_body.h",
     "  if (base) offset += static_cast<uint64_t>(*base);  // recorded work: read at each replay\n", "", CE),
    ("V12", "random normal: mean and std swapped", "ops/cuda/random_body.h",
     "v = philox::affine(a, b, philox::normal(seed, counter));", "v = philox::affine(b, a, philox::normal(seed, counter));", CE),
    ("V13", "permutation keys: values not reset per row", "ops/cuda/random_body.h",
     "    vals[t] = t % n;", "    vals[t] = t;", CE),
    ("V14", "segmented sort: the last row's end offset missing", "ops/cuda/random_body.h",
     "for (int64_t r = grid_first(ctx); r <= rows; r += grid_step(ctx))", "for (int64_t r = grid_first(ctx); r < rows; r += grid_step(ctx))", CE),
    ("V15", "scatter keys: fibers spaced by extent, not extent + 1", "ops/cuda/index_body.h",
     "keys[i] = static_cast<uint64_t>(gather_fiber(i, len, inner)) * span + vv;",
     "keys[i] = static_cast<uint64_t>(gather_fiber(i, len, inner)) * static_cast<uint64_t>(g.extent) + vv;", CE),
    ("V16", "scatter apply: every position of a run adds the run", "ops/cuda/index_body.h",
     "    const uint64_t key = keys[p];\n    if (p > 0 && keys[p - 1] == key) continue;\n    const int64_t v = static_cast<int64_t>(key % span);",
     "    const uint64_t key = keys[p];\n    const int64_t v = static_cast<int64_t>(key % span);", CE),
    ("V17", "gather fiber: the axis extent left out", "ops/cuda/index_body.h",
     "return (i / (len * inner)) * inner + i % inner;", "return (i / inner) * inner + i % inner;", CE),
    ("V18", "index_select: the index position ignores the inner extent", "ops/cuda/index_body.h",
     "const int64_t j = (t / inner) % n_idx;", "const int64_t j = t % n_idx;", CE),
    ("V19", "index_add: out-of-range indices added", "ops/cuda/index_body.h",
     "    if (v == extent) continue;  // out-of-range indices: skipped\n    T* target = y + yrest.offset(r)",
     "    T* target = y + yrest.offset(r)", CE),
    ("V20", "Adam with a device lr: the step count not advanced for the bias correction", "ops/cuda/optim_body.h",
     "      fn::derive_step(d, *h.lr_device, *pk.steps[k] + 1);\n      *shared = fn::AdamConsts<T>(d);",
     "      fn::derive_step(d, *h.lr_device, *pk.steps[k]);\n      *shared = fn::AdamConsts<T>(d);", CE),
    ("V21", "optimiser launch: slots of one group beyond the first pack dropped", "ops/cuda/optim_body.h",
     "for (size_t first = 0; first < slots.size(); first += kSlotsPerLaunch) {",
     "for (size_t first = 0; first < slots.size() && first < kSlotsPerLaunch; first += kSlotsPerLaunch) {", CE),
    ("V22", "batch norm: unbiased batch variance", "ops/cuda/batch_norm_body.h",
     "invstd = 1.0 / sqrt(block_sum(ctx, ss, sh) / static_cast<double>(M) + eps);",
     "invstd = 1.0 / sqrt(block_sum(ctx, ss, sh) / static_cast<double>(M - 1) + eps);", CE),
    ("V23", "batch norm backward: the x̂·dγ term not divided by M", "ops/cuda/batch_norm_body.h",
     "- sum_dy * inv_m - xhat * dg * inv_m));", "- sum_dy * inv_m - xhat * dg));", CE),
    ("V24", "batch norm: H and W strides swapped", "ops/cuda/batch_norm_body.h",
     "return a * sn + c * sc + b * sh + d * sw;", "return a * sn + c * sc + b * sw + d * sh;", CE),
    ("V25", "direct conv forward: every group reads the first channels", "ops/cuda/conv_direct_body.h",
     "  const int64_t c0 = (o / g.og) * g.cg;\n  double acc = 0;", "  const int64_t c0 = 0;\n  double acc = 0;", CE),
    ("V26", "direct conv backward data: rows off the stride's grid counted", "ops/cuda/conv_direct_body.h",
     "      if (rn < 0 || rn % g.sh != 0) continue;", "      if (rn < 0) continue;", CE),
    ("V27", "direct conv backward weights: dilation ignored", "ops/cuda/conv_direct_body.h",
     "    const int64_t ih = r * g.sh - g.ph + a * g.dh, iw = q * g.sw - g.pw + b * g.dw;",
     "    const int64_t ih = r * g.sh - g.ph + a, iw = q * g.sw - g.pw + b * g.dw;", CE),
    ("V28", "IMQ: w(ρ) = Σ c/(c + ρ) without the square", "ops/cuda/imq_body.h",
     "    ww += cr * r;", "    ww += cr;", CE),
    ("V29", "IMQ full mode: the gradient uses δ² for ρ", "ops/cuda/imq_body.h",
     "imq_k<T>(cs, full ? imq_rho(x, o, i, j, dim) : dl * dl, &w);", "imq_k<T>(cs, dl * dl, &w);", CE),
    ("V30", "IMQ total: every thread adds every row", "ops/cuda/imq_body.h",
     "for (int64_t i = ctx.thread_idx_x(); i < rows; i += ctx.block_dim_x()) acc += row_value[i];",
     "for (int64_t i = 0; i < rows; ++i) acc += row_value[i];", CE),
    # Core ops' gradients and densities (every op has a float64 gradient check: do they see these?).
    ("W1", "max backward: ties each get the whole gradient", "ops/reduce.cpp",
     "return {mask * (g / ties)};", "return {mask * g};", ["test_ops_elementwise", "test_engine"]),
    ("W2", "mean backward: not divided by the count", "ops/reduce.cpp",
     "case ReduceOp::mean: return {expand(g / static_cast<double>(count), in_shape)};",
     "case ReduceOp::mean: return {expand(g, in_shape)};", ["test_ops_elementwise", "test_engine"]),
    ("W3", "logsumexp: an all −∞ row shifted by −∞ (NaN)", "ops/reduce.cpp",
     "Tensor shift = where(finite, m, scalar_like(0.0, m));", "Tensor shift = m;",
     ["test_ops_elementwise", "test_engine"]),
    ("W4", "Gaussian likelihood without −log σ", "ops/likelihoods.cpp",
     "* -0.5 - (std::log(scale) + 0.5 * kLog2Pi);", "* -0.5 - (0.5 * kLog2Pi);", ["test_objectives"]),
    ("W5", "Laplace likelihood: log b for log 2b", "ops/likelihoods.cpp",
     "- std::log(2.0 * scale);", "- std::log(scale);", ["test_objectives"]),
    ("W6", "Bernoulli likelihood: softplus(−logits)", "ops/likelihoods.cpp",
     "xm * logits - softplus(logits)", "xm * logits - softplus(-logits)", ["test_objectives"]),
    ("W7", "log_softmax backward: g − Σg without e^y", "ops/nn_ops.cpp",
     "return {g - exp(y.get(name())) * sum(g, {axis}, true)};", "return {g - sum(g, {axis}, true)};",
     ["test_ops_nn"]),
    ("W8", "bce_with_logits backward: the target's gradient sign", "ops/nn_ops.cpp",
     "if (needs_input_grad(1)) out[1] = neg(g * X);", "if (needs_input_grad(1)) out[1] = g * X;", ["test_ops_nn"]),
    ("W9", "dropout not rescaled by 1/(1 − p)", "ops/nn_ops.cpp",
     "  mul_(mask, 1.0 / (1.0 - p));\n", "", ["test_ops_nn"]),
    ("W10", "DC-IGN clamp backward: the deviation term dropped", "ops/nn_ops.cpp",
     "return {M * grads[0] + (1.0 - M) * dev * scale};", "return {M * grads[0]};",
     ["test_ops_nn", "test_baselines"]),
    # The CPU's vectorised math, bf16 rounding and view gradients.
    ("X1", "vector exp: the ln2 tail dropped from the reduction", "ops/cpu/vec_math_cpu.cpp",
     "  r = _mm256_fnmadd_ps(nf, c(-2.12194440e-4f), r);\n", "", ["test_ops_elementwise"]),
    ("X2", "vector exp: 2^n in one factor (wrong below 2^-126)", "ops/cpu/vec_math_cpu.cpp",
     "y = _mm256_mul_ps(_mm256_mul_ps(y, pow2i(n1)), pow2i(n2));", "y = _mm256_mul_ps(y, pow2i(n));", ["test_ops_elementwise"]),
    ("X3", "vector exp: clamped at −80, not −104", "ops/cpu/vec_math_cpu.cpp",
     "__m256 xc = _mm256_min_ps(_mm256_max_ps(x, c(-104.0f)), c(89.0f));",
     "__m256 xc = _mm256_min_ps(_mm256_max_ps(x, c(-80.0f)), c(89.0f));", ["test_ops_elementwise"]),
    ("X4", "vector log1p: the rounding correction of 1 + x dropped", "ops/cpu/vec_math_cpu.cpp",
     "  t = _mm256_add_ps(t, corr);\n", "", ["test_ops_elementwise"]),
    ("X5", "vector log1p: mantissa folded at 1.9, not √2", "ops/cpu/vec_math_cpu.cpp",
     "_mm256_cmp_ps(m, c(1.41421356237f), _CMP_GT_OQ);", "_mm256_cmp_ps(m, c(1.9f), _CMP_GT_OQ);", ["test_ops_elementwise"]),
    ("X6", "vector math: a tail of fewer than 8 elements left unwritten", "ops/cpu/vec_math_cpu.cpp",
     "    std::memcpy(y + i, buf, rest * sizeof(float));\n", "", ["test_ops_elementwise"]),
    ("X7", "vector softplus gradient: the tail's sigmoid of the wrong operand", "ops/cpu/vec_math_cpu.cpp",
     "_mm256_mul_ps(_mm256_load_ps(ba), sigmoid8(_mm256_load_ps(bb)))",
     "_mm256_mul_ps(_mm256_load_ps(ba), sigmoid8(_mm256_load_ps(ba)))", ["test_ops_elementwise"]),
    ("X8", "bf16: ties rounded away from zero, not to even", "engine/bf16.h",
     "u += 0x7fffu + ((u >> 16) & 1u);", "u += 0x8000u;", ["test_engine"]),
    ("X9", "bf16: a NaN whose payload is in the low half becomes infinity", "engine/bf16.h",
     "return static_cast<uint16_t>((u >> 16) | 0x0040u);  // NaN", "return static_cast<uint16_t>(u >> 16);  // NaN",
     ["test_engine"]),
    ("X10", "strided slice backward: the step ignored", "ops/shape_ops.cpp",
     "Tensor region = slice(out, axis, start, start + step * g[0].shape()[axis], step);",
     "Tensor region = slice(out, axis, start, start + g[0].shape()[axis]);", ["test_engine", "test_ops_elementwise"]),
    ("X11", "cat backward: every input gets the first input's slice", "ops/shape_ops.cpp",
     "out.push_back(slice(g[0], axis, at, at + sizes[i]));", "out.push_back(slice(g[0], axis, 0, sizes[i]));",
     ["test_engine", "test_ops_elementwise"]),
    # The CPU kernels: reductions, blocked layouts, index checks.
    ("Y1", "CPU sum: the tail after the four-way unrolled loop dropped", "ops/cpu/reduce_cpu.cpp",
     "          for (; i < n; ++i) r0 += static_cast<Acc>(xv[i]);\n", "", ["test_engine", "test_ops_elementwise"]),
    ("Y2", "integer max of an empty or all-negative start: identity 0, not the lowest value", "ops/reduce_rules.h",
     ": std::numeric_limits<Acc>::lowest();", ": Acc(0);", ["test_engine", "test_ops_elementwise"]),
    ("Y3", "min does not propagate NaN", "ops/reduce_rules.h",
     "else return (v < acc || nan) ? v : acc;", "else return (v < acc) ? v : acc;", ["test_engine", "test_ops_elementwise", "test_cuda_emulated"]),
    ("Y4", "CPU argmax: the last NaN, not the first", "ops/cpu/reduce_cpu.cpp",
     "for (int64_t k = 1; k < n && bv == bv; ++k) {", "for (int64_t k = 1; k < n; ++k) {", ["test_engine", "test_ops_elementwise"]),
    ("Y5", "CPU mean of an empty reduction: 0, not NaN", "ops/cpu/reduce_cpu.cpp",
     "acc[i] = count ? acc[i] / static_cast<Acc>(count) : Acc(NAN);", "acc[i] = count ? acc[i] / static_cast<Acc>(count) : Acc(0);", ["test_engine", "test_ops_elementwise"]),
    ("Y6", "blocked layout: the last block's padding channels not zeroed", "ops/cpu/layout_cpu.cpp",
     "if (to_blocked && C % B != 0) std::memset(", "if (false && C % B != 0) std::memset(", ["test_layout", "test_ops_conv"]),
    ("Y7", "blocked layout: the last block copies a full block of channels", "ops/cpu/layout_cpu.cpp",
     "const int64_t nc = std::min(B, C - cb * B);", "const int64_t nc = B;", ["test_layout", "test_ops_conv"]),
    ("Y8", "CPU index checks accept negative indices", "ops/cpu/index_cpu.cpp",
     "int64_t v = base[off + j * index.strides[last]];\n      UNRAVEL_CHECK(v >= 0 && v < extent,",
     "int64_t v = base[off + j * index.strides[last]];\n      UNRAVEL_CHECK(v < extent,", ["test_ops_index"]),
    ("Y9", "CPU gather along a leading axis steps by the last axis' stride", "ops/cpu/index_cpu.cpp",
     "xo + j * xs_last + v * xs_axis;", "xo + j * xs_last + v * xs_last;", ["test_ops_index"]),
    ("Y10", "CPU block reduction: every row of a run read from the run's first", "ops/cpu/reduce_cpu.cpp",
     "reinterpret_cast<const T*>(p[1] + i * s[1]);\n          for (int64_t c = 0; c < w;",
     "reinterpret_cast<const T*>(p[1]);\n          for (int64_t c = 0; c < w;", ["test_ops_elementwise", "test_ops_conv"]),
    ("Y11", "CPU block reduction: a block of 16 summed as 8", "ops/cpu/reduce_cpu.cpp",
     "if (m == 16) blocks(std::integral_constant<int64_t, 16>{});",
     "if (m == 16) blocks(std::integral_constant<int64_t, 8>{});", ["test_ops_elementwise", "test_ops_conv"]),
    ("Y12", "CPU strided loops: a wrapping dimension not rewound", "ops/cpu/loops.h",
     "        for (int k = 0; k < N; ++k) p[k] -= (L.shape[d] - 1) * L.stride[k][d];\n", "",
     ["test_engine", "test_ops_elementwise"]),
    ("Y13", "fused activation backward: the mask written into a gradient others hold", "ops/conv.cpp",
     "return g.impl_ptr().use_count() == handles && g.storage().use_count() == 1 &&",
     "return g.storage().use_count() == 1 &&", ["test_ops_conv"]),
    ("Y14", "fused activation backward: one owner too many allowed when g is dy", "ops/conv.cpp",
     "const long handles = g.impl_ptr() == dy.impl_ptr() ? 2 : 1;",
     "const long handles = g.impl_ptr() == dy.impl_ptr() ? 3 : 1;",
     ["test_ops_conv"]),
    # Batches, checkpoints.
    ("Z1", "batcher: drop_last serves the short last batch", "datasets/batcher.cpp",
     "return opts_.drop_last ? left < opts_.batch_size : left <= 0;", "return left <= 0;", ["test_datasets"]),
    ("Z2", "batcher: a data-parallel shard of a resident dataset starts at the batch's first row", "datasets/batcher.cpp",
     "    first += opts_.shard_begin;  // (drop_last: never a tail)\n", "", ["test_datasets"]),
    ("Z3", "batcher: a partial last batch not counted", "datasets/batcher.cpp",
     "return opts_.drop_last ? n / b : (n + b - 1) / b;", "return n / b;", ["test_datasets"]),
    ("Z4", "batcher: labels of the batch's positions, not its items", "datasets/batcher.cpp",
     "l[i] = data_.label(idx[i]);", "l[i] = data_.label(static_cast<int64_t>(i));", ["test_datasets"]),
    ("Z5", "packed dSprites pixels: bits read from the high end", "datasets/batcher.cpp",
     "static_cast<float>((v >> b) & 1);", "static_cast<float>((v >> (7 - b)) & 1);", ["test_datasets"]),
    ("Z6", "checkpoint: tensors in the file that the model lacks accepted", "models/checkpoint.cpp",
     "  UNRAVEL_CHECK(unexpected.empty(),", "  UNRAVEL_CHECK(true || unexpected.empty(),", ["test_nn"]),
    ("Z7", "checkpoint: a tensor of another shape accepted", "models/checkpoint.cpp",
     "UNRAVEL_CHECK(src.shape() == t.shape() && src.dtype() == t.dtype(),",
     "UNRAVEL_CHECK(src.dtype() == t.dtype(),", ["test_nn"]),
]


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def target(t):
    return ("apps/" if t in APPS else "tests/") + t


def main(argv):
    if "--list" in argv:
        for m in MUTANTS:
            print(f"{m[0]:4} {m[1]}  ({m[2]}; {', '.join(m[5])})")
        return 0
    want = [a for a in argv if not a.startswith("-")]
    chosen = [m for m in MUTANTS if not want or m[0] in want]
    repo = sh(["git", "rev-parse", "--show-toplevel"], cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    tree = os.environ.get("UNRAVEL_MUTANT_TREE", "/tmp/unravel-mutants")
    head = sh(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()
    if not os.path.isdir(tree):
        r = sh(["git", "worktree", "add", "--detach", tree, head], cwd=repo)
        if r.returncode:
            sys.exit("mutants: cannot make the worktree " + tree + ": " + r.stderr)
    else:
        sh(["git", "checkout", "-q", "--detach", head], cwd=tree)
    # The worktree tests what is committed: uncommitted edits of this checkout are not in it.
    if not os.path.exists(os.path.join(tree, "build", "build.ninja")):
        r = sh(["meson", "setup", "build", "--buildtype=release", "-Dbench=false"], cwd=tree)
        if r.returncode:
            sys.exit("mutants: meson setup failed:\n" + r.stdout[-2000:])
    r = sh(["ninja", "-C", "build"], cwd=tree)
    if r.returncode:
        sys.exit("mutants: the unmutated build fails:\n" + r.stdout[-2000:])
    env = dict(os.environ, UNRAVEL_EXE=os.path.join(tree, "build", "apps", "unravel"),
               UNRAVEL_SOURCE_ROOT=tree)
    # Each test executable must pass unmutated, or a failure would prove nothing.
    for t in sorted({t for m in chosen for t in m[5]}):
        r = sh([os.path.join(tree, "build", target(t))], cwd=os.path.join(tree, "build"), env=env)
        if r.returncode:
            sys.exit(f"mutants: {t} fails without a mutant; fix that first:\n{r.stdout[-1500:]}")
    bad = 0
    for mid, what, path, old, new, tests in chosen:
        p = os.path.join(tree, path)
        src = open(p).read()
        if src.count(old) != 1:
            print(f"{mid:4} STALE    {what}: the snippet occurs {src.count(old)} times in {path}", flush=True)
            bad += 1
            continue
        t0 = time.time()
        open(p, "w").write(src.replace(old, new))
        try:
            b = sh(["ninja", "-C", "build"] + [target(t) for t in tests], cwd=tree)
            if b.returncode:
                verdict = "INVALID  (does not compile: fix the mutant)"
                bad += 1
            else:
                failed = [t for t in tests
                          if sh([os.path.join(tree, "build", target(t))], cwd=os.path.join(tree, "build"),
                                env=env, timeout=1800).returncode]
                verdict = f"KILLED   by {', '.join(failed)}" if failed else "SURVIVED"
                bad += not failed
        finally:
            open(p, "w").write(src)
        print(f"{mid:4} {verdict:40} {what} ({time.time() - t0:.0f} s)", flush=True)
    sh(["ninja", "-C", "build"], cwd=tree)
    print(f"{len(chosen) - bad} of {len(chosen)} mutants killed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
