// `unravel reproduce higgins-celeba --data DIR`: a β-VAE (1Konny/Beta-VAE's CelebA settings:
// BetaVAE_H conv net, β = 10, 32 latents) trained on the user's CelebA (img_align_celeba/,
// centre crop 148, 64×64 RGB: datasets/photo_datasets.h), drawn as Higgins et al. 2017's CelebA
// figure draws it: per seed image, the latents with the largest KL (rows) traversed from −3 to 3
// (columns) around the image's posterior mean; plus reconstructions and a table of the run.
#include <fmt/format.h>

#include <filesystem>

#include "apps/common/config.h"
#include "apps/common/encoding.h"
#include "apps/common/run_dir.h"
#include "apps/figures/figures.h"
#include "apps/figures/reproduce_common.h"
#include "engine/check.h"

namespace unravel::apps {

namespace fs = std::filesystem;

void reproduce_higgins_celeba(ReproduceContext& ctx) {
  UNRAVEL_CHECK(!ctx.data.empty(), "reproduce higgins-celeba needs --data DIR: the folder holding "
                "CelebA's img_align_celeba/*.jpg (and optionally list_attr_celeba.txt), as "
                "downloaded from the CelebA site; nothing is downloaded for you");
  const char* p = "higgins-celeba";
  TrainConfig c = budget_config(ctx, p, ctx.steps(20, 3000, preset(p).config.steps));
  c.data = ctx.data;
  const std::string dir = ensure_run(ctx, "beta-vae", c);
  if (ctx.planning()) return;
  const double beta = c.controller_params["beta"];
  Run run = load_trained(dir);
  ImageFigureOptions io;
  io.seed = ctx.seed;  // random seed images (drawn from the run's seed)
  io.range = 3.0;
  io.steps = 7;
  io.count = 3;
  std::string cap = draw_traversals(run, (fs::path(ctx.out) / "celeba_traversals.png").string(), io);
  ctx.add_image("celeba_traversals.png", fmt::format("beta-VAE (beta = {}) on CelebA: {}", beta, cap));
  io.count = 12;
  cap = draw_reconstructions(run, (fs::path(ctx.out) / "celeba_reconstructions.png").string(), io);
  ctx.add_image("celeba_reconstructions.png", fmt::format("beta-VAE on CelebA: {}", cap));

  int active = 0;
  for (double k : latent_kl(*run.vae, *run.data)) active += k > kActiveLatentKl;
  ctx.csv_header = {"model", "beta", "latents", "steps", "images", "final recon (nats)",
                    "final KL (nats)", "active latents"};
  ctx.csv_rows.push_back({"beta-vae", fmt::format("{}", beta), std::to_string(c.latents),
                          std::to_string(c.steps), std::to_string(run.data->size()),
                          fmt::format("{:.2f}", tail_mean(dir, "recon")),
                          fmt::format("{:.2f}", tail_mean(dir, "kl")), std::to_string(active)});
  ctx.markdown.push_back("Expected (paper, Higgins et al. 2017, CelebA traversals): single latents "
                         "change one property each — azimuth (head turn), emotion (smile), skin "
                         "and hair colour, fringe, background — while a plain VAE's mix them. "
                         "Seen only at the paper budget on the full 202 599 images.\n");
}

}  // namespace unravel::apps
