// Writes the seed corpora of tests/fuzz/corpus/<target>/ (scripts/fuzz.sh seed): small valid
// files made by the project's own writers (save_npy, save_npz, save_safetensors, write_idx,
// libpng, to_json, save_checkpoint) plus hand-made variants the writers never produce (Fortran
// order, version 2/3 .npy headers, 1/4/16-bit and palette PNGs, version-1 checkpoints) and a few
// malformed files (truncated, corrupt CRC, overlapping offsets). Deterministic: the same bytes
// on every run, so regenerating the seeds shows no diff unless a writer changed.
#include <png.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "apps/common/config.h"
#include "datasets/datasets_config.h"
#include "datasets/factor_datasets.h"
#if UNRAVEL_HAVE_HDF5
#include <hdf5.h>
#endif
#include "datasets/idx.h"
#include "datasets/npz.h"
#include "datasets/png.h"
#include "engine/io/npy.h"
#include "engine/io/safetensors.h"
#include "models/checkpoint.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_model.h"

using namespace unravel;
namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

namespace {

fs::path g_root;

fs::path out(const std::string& target, const std::string& file) {
  fs::create_directories(g_root / target);
  return g_root / target / file;
}

void put(const std::string& target, const std::string& file, const Bytes& b) {
  fuzz::write_file(out(target, file), b.data(), b.size());
}
void put(const std::string& target, const std::string& file, const std::string& s) {
  fuzz::write_file(out(target, file), s.data(), s.size());
}

Bytes slurp(const fs::path& p) {
  Bytes b(fs::file_size(p));
  std::FILE* f = std::fopen(p.c_str(), "rb");
  if (!f || std::fread(b.data(), 1, b.size(), f) != b.size()) fuzz::bug("cannot read " + p.string());
  std::fclose(f);
  return b;
}

Bytes truncated(Bytes b, size_t keep) {
  b.resize(std::min(keep, b.size()));
  return b;
}

// numel(shape) values start, start + 1, ... of T.
template <class T>
Tensor ramp(const Shape& shape, T start = 0) {
  std::vector<T> v(static_cast<size_t>(numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<T>(start + static_cast<T>(i % 97));
  return Tensor::from_vector(v, shape);
}

// An .npy file with a hand-written header dict (version `major`), padded to 64 bytes as NumPy
// does, followed by `data`.
Bytes npy_raw(const std::string& dict, int major, const Bytes& data) {
  const size_t pre = major == 1 ? 10 : 12;
  size_t total = (pre + dict.size() + 1 + 63) / 64 * 64;
  const size_t hlen = total - pre;
  Bytes b = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  for (size_t k = 0; k < (major == 1 ? 2u : 4u); ++k) b.push_back((hlen >> (8 * k)) & 0xFF);
  b.insert(b.end(), dict.begin(), dict.end());
  b.insert(b.end(), hlen - dict.size() - 1, ' ');
  b.push_back('\n');
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

void npy_seeds() {
  put("npy", "f32_2x3.npy", npy_bytes(ramp<float>(Shape{2, 3}, 0.5f)));
  put("npy", "i64_4.npy", npy_bytes(ramp<int64_t>(Shape{4}, -2)));
  put("npy", "u8_scalar.npy", npy_bytes(ramp<uint8_t>(Shape{}, 7)));
  put("npy", "i32_2x1x2.npy", npy_bytes(ramp<int32_t>(Shape{2, 1, 2})));
  put("npy", "f64_0x3.npy", npy_bytes(Tensor::empty(Shape{0, 3}, DType::f64, kCPU)));
  Bytes f8(6 * 8);
  for (size_t i = 0; i < f8.size(); ++i) f8[i] = static_cast<uint8_t>(i * 7);
  put("npy", "fortran_f8_2x3.npy",
      npy_raw("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", 1, f8));
  put("npy", "bool_v2.npy",
      npy_raw("{'descr': '|b1', 'fortran_order': False, 'shape': (5,), }", 2, {1, 0, 1, 1, 0}));
  put("npy", "u1_v3_dquote.npy",
      npy_raw("{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": (2, 2L)}", 3,
              {1, 2, 3, 4}));
  // Malformed: truncated data, big-endian dtype, structured dtype.
  put("npy", "bad_truncated.npy", truncated(npy_bytes(ramp<float>(Shape{4, 4})), 100));
  put("npy", "bad_big_endian.npy",
      npy_raw("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", 1, {0, 0, 0, 0}));
  put("npy", "bad_record.npy",
      npy_raw("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", 1,
              {0, 0, 0, 0}));
}

// The three dSprites members for n items whose factor classes are the rows of `cls` (5 each).
std::vector<std::pair<std::string, Tensor>> dsprites_members(
    const std::vector<std::vector<int64_t>>& cls) {
  const int64_t n = static_cast<int64_t>(cls.size());
  std::vector<int64_t> classes;
  std::vector<double> values;
  for (const auto& row : cls) {
    classes.push_back(0);  // the constant colour column
    values.push_back(1.0);
    for (int64_t c : row) classes.push_back(c), values.push_back(0.25 * static_cast<double>(c));
  }
  std::vector<uint8_t> imgs(static_cast<size_t>(n) * 64 * 64);
  for (size_t i = 0; i < imgs.size(); ++i) imgs[i] = ((i / 64) % 64 > 20 && i % 64 < 30) ? 1 : 0;
  return {{"imgs", Tensor::from_vector(imgs, Shape{n, 64, 64})},
          {"latents_classes", Tensor::from_vector(classes, Shape{n, 6})},
          {"latents_values", Tensor::from_vector(values, Shape{n, 6})}};
}

void npz_seeds() {
  const fs::path grid = out("npz", "dsprites_grid.npz");
  save_npz(grid, dsprites_members({{0, 0, 0, 0, 0}, {0, 0, 0, 0, 1}}), true);
  // Not in grid order: the loader builds its class → item map instead.
  save_npz(out("npz", "dsprites_unordered_stored.npz"),
           dsprites_members({{0, 1, 0, 0, 1}, {0, 0, 0, 0, 0}, {0, 1, 0, 0, 0}}), false);
  save_zip_members(out("npz", "misc.npz"),
                   {{"a.npy", npy_bytes(ramp<float>(Shape{3}))},
                    {"b.npy", npy_bytes(ramp<int64_t>(Shape{2, 2}))},
                    {"readme.txt", {'h', 'i', '\n'}}},
                   true);
  // Malformed: a flipped byte in the first member's compressed data (after its 30-byte local
  // header and the name "imgs.npy": a CRC or deflate error), and a truncated archive.
  Bytes b = slurp(grid);
  b[30 + 8 + 12] ^= 0x55;
  put("npz", "bad_crc.npz", b);
  put("npz", "bad_truncated.npz", truncated(slurp(grid), slurp(grid).size() - 30));
}

void safetensors_seeds() {
  save_safetensors(out("safetensors", "every_dtype.safetensors"),
                   {{"f32", ramp<float>(Shape{2, 2})}, {"f64", ramp<double>(Shape{3})},
                    {"i32", ramp<int32_t>(Shape{1, 2})}, {"i64", ramp<int64_t>(Shape{2})},
                    {"u8", ramp<uint8_t>(Shape{5})}, {"empty", Tensor::empty(Shape{0, 4})}},
                   {{"format", "test"}, {"note", "seed"}});
  save_safetensors(out("safetensors", "nothing.safetensors"), {});
  // Hand-made headers: BOOL and BF16 dtypes; overlapping ranges (malformed).
  auto raw = [](const std::string& json, size_t data_bytes) {
    std::string h = json;
    h.append((8 - h.size() % 8) % 8, ' ');
    Bytes b(8);
    for (int k = 0; k < 8; ++k) b[k] = (h.size() >> (8 * k)) & 0xFF;
    b.insert(b.end(), h.begin(), h.end());
    for (size_t i = 0; i < data_bytes; ++i) b.push_back(static_cast<uint8_t>(i));
    return b;
  };
  put("safetensors", "bool_bf16.safetensors",
      raw(R"({"m":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]},)"
          R"("h":{"dtype":"BF16","shape":[2],"data_offsets":[2,6]}})", 6));
  put("safetensors", "bad_overlap.safetensors",
      raw(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
          R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})", 6));
}

void idx_seeds() {
  IdxArray img{0x08, {2, 3, 3}, {}};
  for (int i = 0; i < 18; ++i) img.data.push_back(static_cast<uint8_t>(i * 14));
  write_idx(out("idx", "images_u8.idx"), img, false);
  write_idx(out("idx", "images_u8.idx.gz"), img, true);
  write_idx(out("idx", "labels_u8.idx.gz"), IdxArray{0x08, {5}, {0, 1, 9, 3, 4}}, true);
  write_idx(out("idx", "i16_2x2.idx"), IdxArray{0x0B, {2, 2}, {1, 0, 2, 0, 3, 0, 255, 255}}, false);
  Bytes f64(3 * 8, 0x3f);
  write_idx(out("idx", "f64_3.idx"), IdxArray{0x0E, {3}, f64}, false);
  put("idx", "bad_truncated.idx.gz", truncated(slurp(out("idx", "images_u8.idx.gz")), 25));
  put("idx", "bad_type.idx", Bytes{0, 0, 0x0A, 1, 0, 0, 0, 1, 42});
}

// A PNG written with libpng's full API: `bits` per sample, `color` (PNG_COLOR_TYPE_*), rows of
// a repeating pattern; a 16-entry palette and tRNS for palette images; Adam7 when `interlace`.
Bytes png_raw(int w, int h, int bits, int color, bool interlace) {
  const fs::path tmp = fuzz::scratch_dir() / "raw.png";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (!f || !png || !info) fuzz::bug("libpng: cannot start writing " + tmp.string());
  if (setjmp(png_jmpbuf(png))) fuzz::bug("libpng write failed");
  png_init_io(png, f);
  png_set_IHDR(png, info, w, h, bits, color, interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (color == PNG_COLOR_TYPE_PALETTE) {
    png_color pal[16];
    png_byte alpha[16];
    for (int i = 0; i < 16; ++i) {
      pal[i] = {png_byte(i * 16), png_byte(255 - i * 16), 128};
      alpha[i] = png_byte(i * 17);
    }
    png_set_PLTE(png, info, pal, 16);
    png_set_tRNS(png, info, alpha, 16, nullptr);
  }
  png_write_info(png, info);
  const size_t rowbytes = png_get_rowbytes(png, info);
  std::vector<png_byte> row(rowbytes);
  const int passes = interlace ? png_set_interlace_handling(png) : 1;
  for (int p = 0; p < passes; ++p)
    for (int y = 0; y < h; ++y) {
      for (size_t i = 0; i < rowbytes; ++i) row[i] = png_byte((i * 37 + y * 11) & 0xFF);
      png_write_row(png, row.data());
    }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
  return slurp(tmp);
}

Bytes png_simple(int w, int h, int channels) {
  const fs::path tmp = fuzz::scratch_dir() / "simple.png";
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * channels);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 29);
  if (channels == 1) write_png_gray(tmp, w, h, px.data());
  else write_png_rgb(tmp, w, h, px.data());
  return slurp(tmp);
}

std::vector<std::pair<std::string, Bytes>> png_seeds() {
  std::vector<std::pair<std::string, Bytes>> s = {
      {"gray8_5x4.png", png_simple(5, 4, 1)},
      {"rgb8_3x3.png", png_simple(3, 3, 3)},
      {"gray1_9x3.png", png_raw(9, 3, 1, PNG_COLOR_TYPE_GRAY, false)},
      {"palette4_trns_6x5.png", png_raw(6, 5, 4, PNG_COLOR_TYPE_PALETTE, false)},
      {"rgba16_adam7_7x7.png", png_raw(7, 7, 16, PNG_COLOR_TYPE_RGB_ALPHA, true)},
      {"gray_alpha8_4x2.png", png_raw(4, 2, 8, PNG_COLOR_TYPE_GRAY_ALPHA, false)},
  };
  Bytes crc = s[0].second;
  crc[crc.size() - 20] ^= 0x01;  // inside IDAT or IEND: a CRC error
  s.push_back({"bad_crc.png", crc});
  s.push_back({"bad_truncated.png", truncated(s[1].second, 50)});
  for (const auto& [name, bytes] : s) put("png", name, bytes);
  return s;
}

void image_folder_seeds(const std::vector<std::pair<std::string, Bytes>>& pngs) {
  const std::string sep = "--unravel-next-file--";
  auto join = [&](uint8_t opt, std::initializer_list<size_t> which) {
    Bytes b = {opt};
    bool first = true;
    for (size_t k : which) {
      if (!first) b.insert(b.end(), sep.begin(), sep.end());
      first = false;
      b.insert(b.end(), pngs[k].second.begin(), pngs[k].second.end());
    }
    return b;
  };
  put("image_folder", "gray_two.bin", join(0x00, {0, 2}));
  put("image_folder", "rgb_three_upper.bin", join(0x80 | 0x23, {1, 3, 4}));
  put("image_folder", "rgb_one_big.bin", join(0x7F, {5}));
  put("image_folder", "bad_one_corrupt.bin", join(0x12, {0, 6}));
}

void config_seeds() {
  for (const char* name : {"higgins-dsprites", "mathieu-pinwheel", "mathieu-sparse-fashion",
                           "factorvae-dsprites", "controlvae-dsprites", "betatcvae-dsprites"}) {
    apps::TrainConfig c = apps::preset(name).config;
    c.out = std::string("runs/") + name;
    apps::resolve(c);
    put("config", std::string(name) + ".json", apps::to_json(c));
  }
  apps::TrainConfig f;
  f.dataset = "folder";
  f.data = "images/";
  f.device = "sim:1";
  f.out = "runs/folder";
  put("config", "folder_sim.json", apps::to_json(f));
  put("config", "empty_object.json", std::string("{}"));
  put("config", "bad_type.json", std::string(R"({"latents": "ten", "steps": -1})"));
}

void checkpoint_seeds() {
  const std::string meta =
      R"({"step":3,"gen_seed":1,"gen_offset":96,"batcher":{"epoch":0,"position":24,)"
      R"("seed":1,"offset":0},"controller":{"beta":1.0},"beta":1.0,"capacity":0.0,"seconds":0.5})";
  fuzz::TinyModel tiny = fuzz::make_tiny_model();
  save_checkpoint(out("checkpoint", "tiny_full.safetensors"), *tiny.net, tiny.adam.get(), meta,
                  {{"disc", tiny.disc.get(), ""}});
  save_checkpoint(out("checkpoint", "tiny_weights.safetensors"), *tiny.net);
  fuzz::RunModel run = fuzz::make_run_model();
  save_checkpoint(out("checkpoint", "run_state.safetensors"), *run.state, &run.step->optimizer(),
                  meta, run.step->auxiliary_optimizers());
  // Version 1: positional "prior.N" / "disc.N" names, no prior buffers.
  std::map<std::string, Tensor> v1;
  for (const auto& [n, t] : run.state->vae().named_parameters()) v1["model.vae." + n] = t;
  for (const auto& [n, t] : run.state->vae().named_buffers()) v1["model.vae." + n] = t;
  TensorList pp = run.state->prior().parameters(), dp = run.state->objective().parameters();
  for (size_t i = 0; i < pp.size(); ++i) v1["model.prior." + std::to_string(i)] = pp[i];
  for (size_t i = 0; i < dp.size(); ++i) v1["model.disc." + std::to_string(i)] = dp[i];
  save_safetensors(out("checkpoint", "run_v1.safetensors"), v1,
                   {{"format", "unravel-checkpoint"}, {"version", "1"}, {"metadata", "{}"}});
  // Malformed: a tensor of the wrong shape, and a file that is not a checkpoint.
  std::map<std::string, Tensor> wrong = {{"model.0.weight", ramp<float>(Shape{4, 2})}};
  save_safetensors(out("checkpoint", "bad_shape.safetensors"), wrong,
                   {{"format", "unravel-checkpoint"}, {"version", "2"}, {"metadata", "{}"}});
  save_safetensors(out("checkpoint", "bad_format.safetensors"), wrong, {{"format", "other"}});
}


// 3D Shapes: DeepMind's layout on the grid {1,1,1,1,1,2} (fuzz_shapes3d's): images u8 [2,64,64,3]
// chunked and deflated (as a writer may choose), labels f64 [2,6]; object times off so the bytes
// are the same on every run. Malformed: images as i32, and the file cut short.
void shapes3d_seeds() {
#if UNRAVEL_HAVE_HDF5
  auto write = [](const fs::path& path, hid_t image_type, bool chunked) {
    const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) fuzz::bug("cannot create " + path.string());
    const hsize_t idims[4] = {2, 64, 64, 3};
    const hid_t isp = H5Screate_simple(4, idims, nullptr);
    const hid_t plist = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(plist, false);
    if (chunked) {
      const hsize_t chunk[4] = {1, 64, 64, 3};
      H5Pset_chunk(plist, 4, chunk);
      H5Pset_deflate(plist, 6);
    }
    const hid_t ids = H5Dcreate2(f, "images", image_type, isp, H5P_DEFAULT, plist, H5P_DEFAULT);
    std::vector<uint8_t> px(2 * 64 * 64 * 3);
    for (size_t k = 0; k < px.size(); ++k) px[k] = static_cast<uint8_t>((k / 64) % 7 * 30);
    H5Dwrite(ids, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, px.data());
    const hsize_t ldims[2] = {2, 6};
    const hid_t lsp = H5Screate_simple(2, ldims, nullptr);
    const hid_t lplist = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(lplist, false);
    const hid_t lds = H5Dcreate2(f, "labels", H5T_IEEE_F64LE, lsp, H5P_DEFAULT, lplist, H5P_DEFAULT);
    const double lab[12] = {0, 0, 0, 0.75, 0, 0, 0, 0, 0, 0.75, 0, 30};
    H5Dwrite(lds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab);
    for (hid_t h : {ids, lds}) H5Dclose(h);
    for (hid_t h : {plist, lplist}) H5Pclose(h);
    for (hid_t h : {isp, lsp}) H5Sclose(h);
    H5Fclose(f);
  };
  write(out("shapes3d", "grid2_deflate.h5"), H5T_STD_U8LE, true);
  write(out("shapes3d", "grid2_contiguous.h5"), H5T_STD_U8LE, false);
  write(out("shapes3d", "bad_images_i32.h5"), H5T_STD_I32LE, true);
  put("shapes3d", "bad_truncated.h5", truncated(slurp(out("shapes3d", "grid2_deflate.h5")), 1500));
#endif
}

// MPI3D: member images.npy u8 [2, 64, 64, 3] (fuzz_mpi3d's grid {1,1,1,1,1,1,2}), stored and
// deflated; malformed: the images as i32 and as [2, 64, 64] (too few bytes), and a file cut short.
void mpi3d_seeds() {
  std::vector<uint8_t> px(2 * 64 * 64 * 3);
  for (size_t k = 0; k < px.size(); ++k) px[k] = static_cast<uint8_t>((k / 192) % 5 * 50 + k % 3);
  const Tensor images = Tensor::from_vector(px, Shape{2, 64, 64, 3});
  save_npz(out("mpi3d", "grid2_stored.npz"), {{"images", images}}, false);
  save_npz(out("mpi3d", "grid2_deflated.npz"), {{"images", images}}, true);
  save_npz(out("mpi3d", "bad_images_i32.npz"), {{"images", ramp<int32_t>(Shape{2, 64, 64, 3})}}, true);
  save_npz(out("mpi3d", "bad_images_2x64x64.npz"), {{"images", ramp<uint8_t>(Shape{2, 64, 64})}},
           false);
  put("mpi3d", "bad_truncated.npz", truncated(slurp(out("mpi3d", "grid2_stored.npz")), 9000));
}

// SmallNORB: the training trio on the full 24 300-item grid in grid order with 1×1 images, joined
// with fuzz_smallnorb's separator, and a variant with a gzipped category file (truncations and
// corruptions are the fuzzer's first mutations).
void smallnorb_seeds() {
  constexpr int32_t n = SmallNorb::kItems;
  auto mat = [](int32_t magic, std::vector<int32_t> dims, const void* data, size_t bytes) {
    std::string m(reinterpret_cast<const char*>(&magic), 4);
    const auto nd = static_cast<int32_t>(dims.size());
    m.append(reinterpret_cast<const char*>(&nd), 4);
    while (dims.size() < 3) dims.push_back(1);
    m.append(reinterpret_cast<const char*>(dims.data()), dims.size() * 4);
    m.append(static_cast<const char*>(data), bytes);
    return m;
  };
  std::vector<uint8_t> dat(static_cast<size_t>(n) * 2);
  std::vector<int32_t> cat(n), info(static_cast<size_t>(n) * 4);
  const int32_t instances[5] = {4, 6, 7, 8, 9};
  for (int32_t i = 0; i < n; ++i) {
    int32_t r = i;  // mixed radix {5, 5, 9, 18, 6}, last fastest
    const int32_t light = r % 6; r /= 6;
    const int32_t azim = r % 18; r /= 18;
    const int32_t elev = r % 9; r /= 9;
    const int32_t inst = r % 5; r /= 5;
    cat[i] = r;
    const int32_t row[4] = {instances[inst], elev, 2 * azim, light};
    std::copy_n(row, 4, &info[static_cast<size_t>(i) * 4]);
    dat[2 * i] = static_cast<uint8_t>(i * 7);
    dat[2 * i + 1] = static_cast<uint8_t>(255 - i * 7);
  }
  const std::string sep = "--unravel-next-file--";
  const std::string d = mat(0x1E3D4C55, {n, 2, 1, 1}, dat.data(), dat.size());
  const std::string c = mat(0x1E3D4C54, {n}, cat.data(), cat.size() * 4);
  const std::string in = mat(0x1E3D4C54, {n, 4}, info.data(), info.size() * 4);
  put("smallnorb", "train_1x1.bin", d + sep + c + sep + in);
  // The category file gzipped (the loader reads .mat and .mat.gz content alike).
  std::vector<uint8_t> gz(compressBound(static_cast<uLong>(c.size())) + 64);
  z_stream zs{};
  deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(c.data()));
  zs.avail_in = static_cast<uInt>(c.size());
  zs.next_out = gz.data();
  zs.avail_out = static_cast<uInt>(gz.size());
  deflate(&zs, Z_FINISH);
  gz.resize(zs.total_out);
  deflateEnd(&zs);
  put("smallnorb", "train_cat_gz.bin",
      d + sep + std::string(gz.begin(), gz.end()) + sep + in);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (writes CORPUS_DIR/<target>/*)\n", argv[0]);
    return 2;
  }
  g_root = argv[1];
  try {
    npy_seeds();
    npz_seeds();
    safetensors_seeds();
    idx_seeds();
    image_folder_seeds(png_seeds());
    config_seeds();
    checkpoint_seeds();
    shapes3d_seeds();
    mpi3d_seeds();
    smallnorb_seeds();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_corpus: %s\n", e.what());
    return 1;
  }
  for (const auto& d : fs::directory_iterator(g_root)) {
    size_t n = 0, bytes = 0;
    for (const auto& f : fs::directory_iterator(d)) ++n, bytes += fs::file_size(f);
    std::printf("%-14s %2zu files, %6zu bytes\n", d.path().filename().c_str(), n, bytes);
  }
  return 0;
}
