// `unravel export RUN --to torch DIR`: a trained run's VAE for people who work in PyTorch:
//   DIR/model.py            Encoder, Decoder and VAE as torch.nn modules, and load(dir) -> VAE
//   DIR/model.safetensors   the VAE's parameters and buffers under torch's names, f32
//   DIR/config.json         architecture, latents, data shape, likelihood, source run and step
//   DIR/prior.safetensors   the prior's tensors ("prior.<name>", as in the checkpoint), only when
//                           the prior has any (learned or data-initialised priors); model.py
//                           does not load them
// The objective's own modules (e.g. the FactorVAE discriminator) are training aids and are not
// exported. model.py is generated from the run's module tree, not from a template per
// architecture: every layer of a known type becomes its torch.nn equivalent under the same name,
// so a new architecture built from those layers exports unchanged, and an unknown one is refused.
// Layers are matched by exact type: a subclass may compute something else in its forward.
// Our layouts are torch's (Linear (out, in), Conv2d (out, in, kh, kw), ConvTranspose2d (in, out,
// kh, kw)); each tensor is still checked against the shape torch's layer will have, so a layout
// change on our side fails here instead of in load_state_dict.
#include "apps/export.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <typeinfo>

#include "apps/commands.h"
#include "apps/common/run_dir.h"
#include "engine/check.h"
#include "engine/io/safetensors.h"
#include "models/nn/nn.h"
#include "ops/ops.h"

namespace unravel::apps {

namespace {

namespace fs = std::filesystem;

constexpr char kKnown[] =
    "Sequential, Linear, Conv2d, ConvTranspose2d, BatchNorm1d, BatchNorm2d, ReLU, LeakyReLU, "
    "Sigmoid, Tanh, Softplus, Flatten, Unflatten, Reshape, SpatialBroadcast";

/// What the generated code needs besides the layers, and the tensors torch's layers will hold.
struct Emitter {
  std::map<std::string, Shape> expected;  ///< torch name → the shape torch's layer gives it
  bool collections = false;               ///< a Sequential with names other than 0, 1, ...
  bool reshape = false;                   ///< the Reshape helper class
  bool broadcast = false;                 ///< the SpatialBroadcast helper class
};

template <class T> const T* exactly(const nn::Module& m) {
  return typeid(m) == typeid(T) ? static_cast<const T*>(&m) : nullptr;
}

std::string py_bool(bool b) { return b ? "True" : "False"; }
/// Shortest text that reads back as the same double (fmt's default), valid Python.
std::string py_num(double v) { return fmt::format("{}", v); }
std::string py_pair(const std::array<int64_t, 2>& a) { return fmt::format("({}, {})", a[0], a[1]); }
std::string py_tuple(const std::vector<int64_t>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + (v.size() == 1 ? ",)" : ")");
}

/// ", dilation=(a, b)" where it is not torch's default of 1.
std::string dilation_arg(const Conv2dOptions& o) {
  return o.dilation[0] == 1 && o.dilation[1] == 1 ? "" : ", dilation=" + py_pair(o.dilation);
}

bool is_identifier(const std::string& s) {
  static const std::regex id("[A-Za-z_][A-Za-z0-9_]*");
  return std::regex_match(s, id);
}

/// The torch expression that builds `m`, whose torch name is `path` ("encoder.trunk.3") and our
/// name `ours` ("vae.enc.trunk.3"); nested lines are indented for a position `indent` spaces in.
std::string torch_expr(const nn::Module& m, const std::string& path, const std::string& ours,
                       int indent, Emitter& e) {
  auto expect = [&](const char* name, Shape s) { e.expected[path + "." + name] = s; };
  if (const auto* s = exactly<nn::Sequential>(m)) {
    const auto& c = s->children();
    bool indexed = true;
    for (size_t i = 0; i < c.size(); ++i) indexed = indexed && c[i].first == std::to_string(i);
    if (!indexed) e.collections = true;
    const std::string pad(indent + 4, ' ');
    std::string out = indexed ? "nn.Sequential(\n" : "nn.Sequential(collections.OrderedDict([\n";
    for (const auto& [name, child] : c) {
      std::string sub = torch_expr(*child, path + "." + name, ours + "." + name, indent + 4, e);
      out += pad + (indexed ? sub : fmt::format("(\"{}\", {})", name, sub)) + ",\n";
    }
    return out + std::string(indent, ' ') + (indexed ? ")" : "]))");
  }
  UNRAVEL_CHECK(m.children().empty(), "export --to torch: module '{}' ({}) is a layer with child "
                "modules, which the exporter does not handle", ours, m.describe());
  if (const auto* l = exactly<nn::Linear>(m)) {
    const bool bias = l->bias().defined();
    expect("weight", Shape{l->out_features(), l->in_features()});
    if (bias) expect("bias", Shape{l->out_features()});
    return fmt::format("nn.Linear({}, {}, bias={})", l->in_features(), l->out_features(),
                       py_bool(bias));
  }
  if (const auto* c = exactly<nn::Conv2d>(m)) {
    const Conv2dOptions& o = c->options();
    const bool bias = c->bias().defined();
    expect("weight", Shape{c->out_channels(), c->in_channels(), c->kernel()[0], c->kernel()[1]});
    if (bias) expect("bias", Shape{c->out_channels()});
    return fmt::format("nn.Conv2d({}, {}, kernel_size={}, stride={}, padding={}{}, bias={})",
                       c->in_channels(), c->out_channels(), py_pair(c->kernel()),
                       py_pair(o.stride), py_pair(o.padding), dilation_arg(o), py_bool(bias));
  }
  if (const auto* c = exactly<nn::ConvTranspose2d>(m)) {
    const Conv2dOptions& o = c->options();
    const bool bias = c->bias().defined();
    expect("weight", Shape{c->in_channels(), c->out_channels(), c->kernel()[0], c->kernel()[1]});
    if (bias) expect("bias", Shape{c->out_channels()});
    const bool op = o.output_padding[0] || o.output_padding[1];
    return fmt::format("nn.ConvTranspose2d({}, {}, kernel_size={}, stride={}, padding={}{}{}, "
                       "bias={})", c->in_channels(), c->out_channels(), py_pair(c->kernel()),
                       py_pair(o.stride), py_pair(o.padding),
                       op ? ", output_padding=" + py_pair(o.output_padding) : "",
                       dilation_arg(o), py_bool(bias));
  }
  if (exactly<nn::BatchNorm1d>(m) || exactly<nn::BatchNorm2d>(m)) {
    const auto& b = static_cast<const nn::BatchNormBase&>(m);
    const nn::BatchNormOptions& o = b.options();
    const int64_t c = b.num_features();
    if (o.affine) {
      expect("weight", Shape{c});
      expect("bias", Shape{c});
    }
    if (o.track_running_stats) {
      expect("running_mean", Shape{c});
      expect("running_var", Shape{c});
      expect("num_batches_tracked", Shape{});
    }
    // Our momentum is torch's: running = (1 - momentum)·running + momentum·batch.
    return fmt::format("nn.{}({}, eps={}, momentum={}{}{})", m.type_name(), c, py_num(o.eps),
                       py_num(o.momentum), o.affine ? "" : ", affine=False",
                       o.track_running_stats ? "" : ", track_running_stats=False");
  }
  if (exactly<nn::ReLU>(m)) return "nn.ReLU()";
  if (const auto* l = exactly<nn::LeakyReLU>(m))
    return fmt::format("nn.LeakyReLU({})", py_num(l->negative_slope()));
  if (exactly<nn::Sigmoid>(m)) return "nn.Sigmoid()";
  if (exactly<nn::Tanh>(m)) return "nn.Tanh()";
  // torch's Softplus returns x itself above x = 20, where log1p(e^x) − x < 2.1e-9: the same f32.
  if (exactly<nn::Softplus>(m)) return "nn.Softplus()";
  if (const auto* f = exactly<nn::Flatten>(m))
    return fmt::format("nn.Flatten({}, {})", f->start_dim(), f->end_dim());
  if (const auto* u = exactly<nn::Unflatten>(m))
    return fmt::format("nn.Unflatten({}, {})", u->dim(), py_tuple(u->sizes()));
  if (const auto* r = exactly<nn::Reshape>(m)) {
    e.reshape = true;
    return fmt::format("Reshape({})", py_tuple(r->shape()));
  }
  if (const auto* b = exactly<nn::SpatialBroadcast>(m)) {
    e.broadcast = true;
    return fmt::format("SpatialBroadcast({}, {})", b->height(), b->width());
  }
  UNRAVEL_CHECK(false, "export --to torch: module '{}' is a {} ({}), not one of the layer types "
                "the torch exporter knows exactly ({}); a subclass is refused too, as its forward "
                "may differ", ours, m.type_name(), m.describe(), kKnown);
  return {};
}

/// "self.<name> = <expr>" for each child of `m` (named `names`, in registration order), with
/// the tensors each will hold; refuses children the spec does not name (torch would lack them).
std::string children_init(const nn::Module& m, const std::vector<std::string>& names,
                          const std::string& path, const std::string& ours, Emitter& e) {
  std::string out;
  for (const auto& [name, child] : m.children()) {
    UNRAVEL_CHECK(std::find(names.begin(), names.end(), name) != names.end(),
                  "export --to torch: '{}' has a child module '{}' ({}) that its export "
                  "description does not use", ours, name, child->describe());
    UNRAVEL_CHECK(is_identifier(name), "export --to torch: '{}.{}' is not a Python identifier",
                  ours, name);
    out += fmt::format("        self.{} = {}\n", name,
                       torch_expr(*child, path + "." + name, ours + "." + name, 8, e));
  }
  for (const auto& n : names)
    UNRAVEL_CHECK(std::any_of(m.children().begin(), m.children().end(),
                              [&](const auto& c) { return c.first == n; }),
                  "export --to torch: '{}' has no child module '{}' (its export description "
                  "names it)", ours, n);
  return out;
}

const char* scale_text(models::ScaleParam p) {
  switch (p) {
    case models::ScaleParam::logvar: return "logvar = p";
    case models::ScaleParam::softplus: return "sigma = softplus(p) + 1e-6, logvar = 2 log sigma";
    case models::ScaleParam::exp_half: return "sigma = exp(p / 2) + 1e-6, logvar = 2 log sigma";
  }
  return "";
}

/// One line for Encoder's docstring: the computation of encoder_forward in words.
std::string encoder_doc(const models::EncoderSpec& s) {
  const std::string heads = s.scale.empty()
                                ? fmt::format("(mu, p) = the two halves of {}(h)", s.mu)
                                : fmt::format("mu = {}(h), p = {}(h)", s.mu, s.scale);
  return fmt::format("h = {}(x), {}; {}", s.trunk, heads, scale_text(s.param));
}

/// The Python statements of Encoder.forward after h = trunk(x): μ, p, then the return.
std::string encoder_forward(const models::EncoderSpec& s, int64_t latents) {
  std::string out;
  if (s.scale.empty())
    out += fmt::format("        both = torch.flatten(self.{}(h), 1)\n"
                       "        mu, p = both[:, :{}], both[:, {}:{}]\n",
                       s.mu, latents, latents, 2 * latents);
  else
    out += fmt::format("        mu = torch.flatten(self.{}(h), 1)\n"
                       "        p = torch.flatten(self.{}(h), 1)\n", s.mu, s.scale);
  // The same f32 operations in the same order as ops/distributions.cpp's from_scale.
  switch (s.param) {
    case models::ScaleParam::logvar: return out + "        return mu, p\n";
    case models::ScaleParam::softplus:
      return out + "        return mu, torch.log(F.softplus(p) + 1e-6) * 2.0\n";
    case models::ScaleParam::exp_half:
      return out + "        return mu, torch.log(torch.exp(p * 0.5) + 1e-6) * 2.0\n";
  }
  return out;
}

std::string output_text(const models::Vae& vae) {
  if (vae.learned_scale()) return "(means, log-scales)";
  return vae.likelihood().kind == LikelihoodKind::bernoulli ? "Bernoulli logits" : "means";
}

constexpr char kPrelude[] = R"(import os

import torch
import torch.nn as nn
import torch.nn.functional as F
)";

constexpr char kReshape[] = R"(

class Reshape(nn.Module):
    """(N, ...) -> (N, *shape), as unravel's nn::Reshape."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape((x.shape[0],) + self.shape)
)";

constexpr char kSpatialBroadcast[] = R"(

class SpatialBroadcast(nn.Module):
    """(N, D) -> (N, D + 2, height, width): the latents tiled over the grid, then the x and y
    coordinate planes (each from -1 to 1), as unravel's nn::SpatialBroadcast."""

    def __init__(self, height, width):
        super().__init__()
        self.height, self.width = height, width

    def forward(self, z):
        n, d, h, w = z.shape[0], z.shape[1], self.height, self.width
        xs = torch.linspace(-1.0, 1.0, w, dtype=z.dtype, device=z.device)
        ys = torch.linspace(-1.0, 1.0, h, dtype=z.dtype, device=z.device)
        return torch.cat([z[:, :, None, None].expand(n, d, h, w),
                          xs.view(1, 1, 1, w).expand(n, 1, h, w),
                          ys.view(1, 1, h, 1).expand(n, 1, h, w)], 1)
)";

constexpr char kLoad[] = R"(

def load(dir=None, device="cpu"):
    """The exported VAE with its trained weights (model.safetensors in `dir`, default: this
    file's folder), in eval mode: BatchNorm layers use the running statistics, as unravel's
    encode / eval / figure do."""
    from safetensors.torch import load_file

    dir = os.path.dirname(os.path.abspath(__file__)) if dir is None else dir
    model = VAE()
    model.load_state_dict(load_file(os.path.join(dir, "model.safetensors")), strict=True)
    return model.to(device).eval()
)";

}  // namespace

TorchExport export_torch(models::Vae& vae, const std::string& header) {
  const char* ctx = "export --to torch";
  UNRAVEL_CHECK(vae.children().size() == 2, "{}: the VAE should hold exactly its encoder and "
                "decoder, it holds {} modules", ctx, vae.children().size());
  const std::string enc_name = vae.children()[0].first, dec_name = vae.children()[1].first;
  models::Encoder& enc = vae.encoder();
  models::Decoder& dec = vae.decoder();
  const std::optional<models::EncoderSpec> es = enc.export_spec();
  UNRAVEL_CHECK(es.has_value(), "{}: the encoder ({}) does not describe its forward "
                "(models::Encoder::export_spec), so it cannot be rebuilt in torch", ctx,
                enc.type_name());
  UNRAVEL_CHECK(!es->trunk.empty() && !es->mu.empty(), "{}: the encoder's export description "
                "names no trunk or no mu head", ctx);
  const std::optional<std::string> net = dec.export_net();
  UNRAVEL_CHECK(net.has_value(), "{}: the decoder ({}) does not describe its forward "
                "(models::Decoder::export_net), so it cannot be rebuilt in torch", ctx,
                dec.type_name());
  const int64_t d = vae.latents();
  Emitter e;
  std::vector<std::string> enc_children = {es->trunk, es->mu};
  if (!es->scale.empty()) enc_children.push_back(es->scale);
  const std::string enc_init =
      children_init(enc, enc_children, "encoder", "vae." + enc_name, e);
  const std::string dec_init = children_init(dec, {*net}, "decoder", "vae." + dec_name, e);

  std::string py = header + kPrelude;
  if (e.collections) py.insert(py.find("import os\n"), "import collections\n");
  if (e.reshape) py += kReshape;
  if (e.broadcast) py += kSpatialBroadcast;
  std::string x_shape = "(N";
  for (int64_t v : vae.data_shape()) x_shape += ", " + std::to_string(v);
  x_shape += ")";
  py += fmt::format(R"(

class Encoder(nn.Module):
    """x {} -> (mu, logvar), each (N, {}).

    {}."""

    def __init__(self):
        super().__init__()
{}
    def forward(self, x):
        h = self.{}(x)
{})", x_shape, d, encoder_doc(*es), enc_init, es->trunk, encoder_forward(*es, d));
  std::string dec_forward = fmt::format("        return self.{}(z)\n", *net);
  if (vae.learned_scale())  // Vae::decode: the second half of the channels are softplus scales
    dec_forward = fmt::format("        out = self.{}(z)\n"
                              "        c = out.shape[1] // 2\n"
                              "        return out[:, :c], torch.log(F.softplus(out[:, c:2 * c]) "
                              "+ 1e-6)\n", *net);
  py += fmt::format(R"(

class Decoder(nn.Module):
    """z (N, {}) -> {} of shape {}."""

    def __init__(self):
        super().__init__()
{}
    def forward(self, z):
{})", d, output_text(vae), x_shape, dec_init, dec_forward);
  const std::string reshape_out =
      vae.learned_scale() ? "tuple(t.reshape(lead + t.shape[1:]) for t in out)"
                          : "out.reshape(lead + out.shape[1:])";
  py += fmt::format(R"(

class VAE(nn.Module):
    """The run's encoder and decoder.

    Likelihood: {}; the decoder's output: {}."""

    LATENTS = {}
    DATA_SHAPE = {}
    LIKELIHOOD = "{}"

    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = Decoder()

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        """z (..., {}) -> the decoder's output, with z's leading axes kept."""
        lead = z.shape[:-1]
        out = self.decoder(z.reshape(-1, self.LATENTS))
        return {}

    def forward(self, x):
        """(mu, logvar, decoder output at mu): the reconstruction at the posterior mean."""
        mu, logvar = self.encoder(x)
        return mu, logvar, self.decode(mu)
)", vae.likelihood().name(), output_text(vae), d, py_tuple(vae.data_shape().vec()),
                    vae.likelihood().name(), d, reshape_out);
  py += kLoad;

  // The state dict: our names with the VAE's children renamed to the torch attributes, checked
  // name for name and shape for shape against what the torch layers will hold.
  TorchExport out;
  out.source = std::move(py);
  nn::NamedTensors all = vae.named_parameters();
  for (auto& nt : vae.named_buffers()) all.push_back(nt);
  for (const auto& [name, t] : all) {
    std::string torch_name;
    if (name.rfind(enc_name + ".", 0) == 0)
      torch_name = "encoder" + name.substr(enc_name.size());
    else if (name.rfind(dec_name + ".", 0) == 0)
      torch_name = "decoder" + name.substr(dec_name.size());
    auto it = e.expected.find(torch_name);
    UNRAVEL_CHECK(it != e.expected.end(), "{}: tensor 'vae.{}' has no place in the torch model",
                  ctx, name);
    UNRAVEL_CHECK(it->second == t.shape(), "{}: tensor 'vae.{}' is {} but torch's layer holds {} "
                  "(a layout the exporter does not convert)", ctx, name, t.desc(),
                  it->second.str());
    Tensor host = unravel::to(t.detach(), kCPU);
    if (is_floating(host.dtype())) host = unravel::to(host, DType::f32);
    out.tensors[torch_name] = contiguous(host);
    e.expected.erase(it);
  }
  UNRAVEL_CHECK(e.expected.empty(), "{}: torch's model holds '{}', which the run's VAE lacks", ctx,
                e.expected.empty() ? "" : e.expected.begin()->first);
  return out;
}

int export_command(const ExportOptions& o) {
  UNRAVEL_CHECK(o.to == "torch", "export: unknown target '{}' for --to (valid: torch)", o.to);
  UNRAVEL_CHECK(!o.out.empty(), "export: the output folder DIR is required");
  const TrainConfig config = load_config(o.run);  // refuses a folder that is not a run
  std::error_code ec;
  UNRAVEL_CHECK(!fs::equivalent(o.out, o.run, ec), "export: DIR '{}' is the run directory itself "
                "(its config.json would be overwritten); choose another folder", o.out);
  if (fs::exists(o.out)) {
    UNRAVEL_CHECK(fs::is_directory(o.out), "export: '{}' exists and is not a folder", o.out);
    UNRAVEL_CHECK(o.force || fs::is_empty(o.out), "export: '{}' is not empty; pass --force to "
                  "overwrite the export in it", o.out);
  }
  int64_t step = 0;
  // On the CPU whatever the run trained on; the dataset is loaded for its channel count.
  Run r = load_trained(o.run, true, &step, "cpu");
  const std::string ckpt = fs::canonical(last_checkpoint_path(o.run)).string();
  const std::string header = fmt::format(
      "# Generated by `unravel export {} --to torch`: the {} VAE of run {} (checkpoint step {}).\n"
      "# Only torch is needed (and safetensors in load()): `import model; vae = model.load()`.\n",
      o.run, config.arch, fs::canonical(o.run).string(), step);
  TorchExport ex = export_torch(*r.vae, header);

  // The prior's tensors under their checkpoint names (less "model."), as our prior uses them.
  std::map<std::string, Tensor> prior;
  nn::NamedTensors prior_tensors = r.state->prior().named_parameters();
  for (auto& nt : r.state->prior().named_buffers()) prior_tensors.push_back(nt);
  for (const auto& [n, t] : prior_tensors) {
    Tensor host = unravel::to(t.detach(), kCPU);
    if (is_floating(host.dtype())) host = unravel::to(host, DType::f32);
    prior["prior." + n] = contiguous(host);
  }

  const models::Vae& vae = *r.vae;
  nlohmann::ordered_json j;
  j["format"] = "unravel-torch-export";
  j["version"] = 1;
  j["architecture"] = config.arch;
  j["latents"] = vae.latents();
  j["data_shape"] = vae.data_shape().vec();
  j["likelihood"] = vae.likelihood().name();
  j["likelihood_scale"] = vae.learned_scale() || vae.likelihood().kind == LikelihoodKind::bernoulli
                              ? nlohmann::ordered_json(nullptr)
                              : nlohmann::ordered_json(vae.likelihood().scale);
  j["learned_scale"] = vae.learned_scale();
  j["decoder_output"] = output_text(vae);
  j["dataset"] = config.dataset;
  j["objective"] = config.objective;
  j["prior"] = config.prior;
  j["prior_params"] = config.prior_params;
  j["prior_file"] = prior.empty() ? nlohmann::ordered_json(nullptr) : "prior.safetensors";
  j["source"] = {{"run", fs::canonical(o.run).string()}, {"checkpoint", ckpt}, {"step", step}};

  // Each file is replaced atomically; config.json goes last, so a folder with a config.json
  // describes complete files.
  require_writable_dir(o.out, "export");
  const fs::path dir(o.out);
  save_safetensors((dir / "model.safetensors").string(), ex.tensors,
                   {{"format", "pt"}, {"source", "unravel export"}});
  if (!prior.empty())
    save_safetensors((dir / "prior.safetensors").string(), prior, {{"prior", config.prior}});
  else
    fs::remove(dir / "prior.safetensors");  // a stale one of an earlier --force export
  write_text_atomic((dir / "model.py").string(), ex.source);
  write_text_atomic((dir / "config.json").string(), j.dump(2) + "\n");
  std::printf("exported %s (%s, %lld latents, step %lld) to %s: model.py model.safetensors "
              "config.json%s\n", o.run.c_str(), config.arch.c_str(),
              static_cast<long long>(vae.latents()), static_cast<long long>(step), o.out.c_str(),
              prior.empty() ? "" : " prior.safetensors");
  return 0;
}

}  // namespace unravel::apps
