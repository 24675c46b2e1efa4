// Checkpoints: save → load into a freshly initialised model + optimiser gives identical outputs
// and identical subsequent training; mismatched models, optimisers and files are refused with
// errors naming the tensor, and a refused load leaves the model untouched.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "engine/io/safetensors.h"
#include "models/checkpoint.h"
#include "models/nn/nn.h"
#include "models/optim/optim.h"
#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace unravel;
using testing::max_abs_diff;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path dir;
  TempDir() {
    dir = fs::temp_directory_path() / ("unravel_test_ckpt_" + std::to_string(::getpid()));
    fs::create_directories(dir);
  }
  ~TempDir() { fs::remove_all(dir); }
  std::string file(const std::string& name) const { return (dir / name).string(); }
};

std::shared_ptr<nn::Sequential> make_model(uint64_t seed, int64_t out = 3, bool extra = false) {
  Generator g(seed);
  auto m = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Conv2d>(1, 2, 3, g, Conv2dOptions{.padding = {1, 1}}),
      std::make_shared<nn::BatchNorm2d>(2), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(2 * 4 * 4, out, g)});
  if (extra) m->push_back(std::make_shared<nn::Linear>(out, 1, g));
  return m;
}

void train_step(nn::Module& m, optim::Optimizer& opt, const Tensor& x) {
  opt.zero_grad();
  Tensor y = m(x);
  mean(square(y)).backward();
  opt.step();
}

}  // namespace

TEST_CASE("checkpoint: round trip restores outputs, buffers, optimiser and metadata exactly") {
  TempDir tmp;
  std::string path = tmp.file("ckpt.safetensors");
  Generator data(11);
  Tensor x = normal(Shape{4, 1, 4, 4}, data);

  auto model = make_model(1);
  optim::Adam opt(model->parameters(), {.lr = 0.01, .amsgrad = true});
  for (int k = 0; k < 3; ++k) train_step(*model, opt, x);
  const std::string meta = R"({"step": 3, "seed": 1, "offset": 123, "controller": {"beta": 4.0}})";
  save_checkpoint(path, *model, &opt, meta);
  CHECK(checkpoint_metadata(path) == meta);

  auto fresh = make_model(2);  // different initial weights
  optim::Adam fresh_opt(fresh->parameters(), {.lr = 0.5, .amsgrad = true});
  model->eval();
  fresh->eval();
  CHECK(max_abs_diff((*fresh)(x), (*model)(x)) > 1e-3);
  CHECK(load_checkpoint(path, *fresh, &fresh_opt) == meta);
  CHECK(max_abs_diff((*fresh)(x), (*model)(x)) == 0);
  for (size_t i = 0; i < model->named_buffers().size(); ++i)
    CHECK(max_abs_diff(model->named_buffers()[i].second, fresh->named_buffers()[i].second) == 0);
  CHECK(fresh_opt.step_count() == 3);
  CHECK(fresh_opt.lr() == 0.01);

  // Training continues identically.
  model->train();
  fresh->train();
  for (int k = 0; k < 2; ++k) {
    train_step(*model, opt, x);
    train_step(*fresh, fresh_opt, x);
  }
  for (size_t i = 0; i < model->parameters().size(); ++i)
    CHECK(max_abs_diff(model->parameters()[i], fresh->parameters()[i]) == 0);

  // The file is a plain safetensors file with the documented names.
  SafetensorsData d = load_safetensors(path);
  CHECK(d.tensors.count("model.0.weight"));
  CHECK(d.tensors.count("model.1.running_var"));
  CHECK(d.tensors.count("optim.0.exp_avg"));
  CHECK(d.tensors.count("optim.param_steps"));
  CHECK(d.metadata.at("optim.type") == "Adam");

  // Weights only: the optimiser state in the file is ignored without an optimiser.
  auto weights_only = make_model(3);
  load_checkpoint(path, *weights_only);
  weights_only->eval();
  auto reloaded = make_model(4);
  load_checkpoint(path, *reloaded);
  reloaded->eval();
  CHECK(max_abs_diff((*weights_only)(x), (*reloaded)(x)) == 0);
}

TEST_CASE("checkpoint: mismatches are refused with clear errors and leave the model untouched") {
  TempDir tmp;
  std::string path = tmp.file("ckpt.safetensors");
  auto model = make_model(1);
  optim::SGD sgd(model->parameters(), {.lr = 0.1, .momentum = 0.9});
  save_checkpoint(path, *model, &sgd);
  std::string plain = tmp.file("weights.safetensors");
  save_checkpoint(plain, *model);

  auto wide = make_model(5, 4);
  Tensor before = clone(wide->parameters()[0]).detach();
  CHECK_THROWS_WITH_AS(load_checkpoint(path, *wide),
                       doctest::Contains("tensor '4.weight' is f32[3, 32] in the file but f32[4, "
                                         "32] in the model"),
                       Error);
  CHECK(max_abs_diff(wide->parameters()[0], before) == 0);  // nothing written
  CHECK_THROWS_WITH_AS(load_checkpoint(path, *make_model(5, 3, true)),
                       doctest::Contains("missing tensor(s) '5.weight', '5.bias'"), Error);
  nn::Sequential smaller{std::make_shared<nn::Flatten>()};
  CHECK_THROWS_WITH_AS(load_checkpoint(path, smaller), doctest::Contains("unexpected tensor(s)"),
                       Error);
  auto f64 = make_model(5);
  f64->to(DType::f64);
  CHECK_THROWS_WITH_AS(load_checkpoint(path, *f64), doctest::Contains("f64[2, 1, 3, 3] in the model"),
                       Error);

  auto other = make_model(6);
  optim::Adam adam(other->parameters(), {});
  CHECK_THROWS_WITH_AS(load_checkpoint(path, *other, &adam),
                       doctest::Contains("holds SGD state but a Adam was given"), Error);
  optim::SGD sgd2(other->parameters(), {.lr = 0.1, .momentum = 0.9});
  CHECK_THROWS_WITH_AS(load_checkpoint(plain, *other, &sgd2),
                       doctest::Contains("no optimiser state"), Error);
  optim::SGD nomom(other->parameters(), {.lr = 0.1});
  CHECK_THROWS_WITH_AS(load_checkpoint(path, *other, &nomom),
                       doctest::Contains("momentum_buffer"), Error);
  load_checkpoint(path, *other, &sgd2);  // the matching optimiser loads

  std::string foreign = tmp.file("foreign.safetensors");
  save_safetensors(foreign, {{"model.0.weight", Tensor::zeros(Shape{2, 1, 3, 3})}});
  CHECK_THROWS_WITH_AS(load_checkpoint(foreign, *other),
                       doctest::Contains("not an unravel checkpoint"), Error);
  CHECK_THROWS_WITH_AS(load_checkpoint(tmp.file("absent.safetensors"), *other),
                       doctest::Contains("cannot open"), Error);
}
