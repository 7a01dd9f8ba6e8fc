#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/checkpoint_convert.h"
#include "core/torch_pickle.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "models/zoo.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {

// torch.save files made by torch itself, each in the zip and the legacy format (<name>.pt,
// <name>_legacy.pt). SiT-T/4's names and shapes go to Python, which fills them by a formula.
const char* kMakeCheckpoints = R"PY(
import argparse, collections, sys, torch, numpy as np
d = sys.argv[1]
sd = collections.OrderedDict()
for i, line in enumerate(open(d + '/spec.txt')):
    name, n, *shape = line.split()
    sd[name] = (torch.arange(int(n), dtype=torch.float32) * 1e-3 + i).reshape([int(s) for s in shape])
sd._metadata = collections.OrderedDict([('', {'version': 1})])  # as nn.Module.state_dict() has

def save(obj, name):
    torch.save(obj, f'{d}/{name}.pt')
    torch.save(obj, f'{d}/{name}_legacy.pt', _use_new_zipfile_serialization=False)

save(sd, 'released')  # SiT-XL-2-256x256.pt: the bare EMA state dict
small = collections.OrderedDict((k, v) for k, v in sd.items() if v.numel() < 5000)  # SiT names, less data

g = torch.Generator().manual_seed(0)
base = torch.randn(6, 4, generator=g)
odd = collections.OrderedDict()
odd['f32'] = base
odd['view'] = base[2:5, 1:3]  # shares base's storage, offset and strides
odd['transposed'] = base.t()
odd['expanded'] = torch.ones(3).expand(4, 3)  # stride 0
odd['f64'] = base.double()
odd['f16'] = base.half()
odd['bf16'] = base.bfloat16()
odd['i64'] = torch.arange(-3, 3)
odd['i32'] = torch.arange(5, dtype=torch.int32)
odd['i16'] = torch.arange(5, dtype=torch.int16) - 2
odd['i8'] = torch.arange(5, dtype=torch.int8) - 2
odd['u8'] = torch.arange(250, 256, dtype=torch.uint8)
odd['bool'] = torch.tensor([True, False, True])
odd['scalar'] = torch.tensor(3.5)
odd['empty'] = torch.zeros(0, 3)
odd['param'] = torch.nn.Parameter(torch.ones(2, 2))
odd['blocks.0.\u00fc "q" \\ \t \x7f \u00e9\U0001F600'] = torch.ones(1)
save(odd, 'odd')

lin = torch.nn.Linear(3, 2)
opt = torch.optim.AdamW(lin.parameters(), lr=1e-4)
lin(torch.ones(1, 3)).sum().backward()
opt.step()
args = argparse.Namespace(model='SiT-T/4', lr=1e-4, scale=np.float64(0.5), device=torch.device('cpu'),
                          classes={1, 2})
# SiT's train.py: raw and EMA weights, the optimizer and the argparse arguments
save({'model': collections.OrderedDict((k, -v) for k, v in sd.items()), 'ema': sd,
      'opt': opt.state_dict(), 'args': args}, 'training')
# DDP and torch.compile prefixes
save({'model': collections.OrderedDict(('module._orig_mod.' + k, v) for k, v in small.items()), 'epoch': 3}, 'ddp')
# JiT's main_jit.py: the denoiser (backbone under net.) and two EMAs
save({'model': {'net.' + k: -v for k, v in small.items()}, 'model_ema1': {'net.' + k: v for k, v in small.items()},
      'model_ema2': {'net.' + k: 2 * v for k, v in small.items()}, 'optimizer': opt.state_dict(), 'epoch': 1,
      'args': argparse.Namespace(model='JiT-B/16')}, 'jit')
# a small training checkpoint, for trying every truncation and byte flip
tiny = collections.OrderedDict([('w', torch.arange(6.).reshape(2, 3)), ('b', torch.ones(2).half())])
tiny._metadata = collections.OrderedDict([('', {'version': 1})])
save({'model': tiny, 'ema': collections.OrderedDict((k, 2 * v) for k, v in tiny.items()),
      'args': argparse.Namespace(lr=1e-4, scale=np.float64(0.5), name='tiny'), 'step': 7}, 'tiny')
# pytorch-fid's Inception weights (names and the fc shape that convert_inception.py checks)
inc = collections.OrderedDict()
for name in ['Conv2d_1a_3x3.conv.weight', 'Conv2d_1a_3x3.bn.running_var', 'Mixed_7c.branch_pool.conv.weight']:
    inc[name] = torch.randn(3, 2, generator=g)
inc['fc.weight'] = torch.randn(1008, 2048, generator=g).half()
inc['fc.bias'] = torch.randn(1008, generator=g).double()
inc['Conv2d_1a_3x3.bn.num_batches_tracked'] = torch.tensor(5)
save({'state_dict': inc, 'note': 'not a tensor'}, 'inception')

# refused: Python objects where the conversion needs the value
class BoxDict(dict):
    pass
save({'ema': BoxDict(small), 'model': small}, 'forbidden')
save({'ema': {'w': torch.ones(2), 'scale': np.float32(2)}}, 'numpy')
save(torch.nn.Linear(2, 2), 'module')
)PY";

// Runs tools/convert_checkpoint.py / convert_inception.py for every line of jobs.txt (script, then
// its arguments, tab-separated) in one Python process.
const char* kRunConverters = R"PY(
import runpy, sys
for line in open(sys.argv[1]).read().splitlines():
    script, *argv = line.split('\t')
    sys.argv = [script] + argv
    try:
        runpy.run_path(script, run_name='__main__')
    except SystemExit as e:
        if e.code not in (None, 0):
            print('FAILED', argv, e.code)
            sys.exit(1)
)PY";

struct Fixture {
  std::string python;
  std::string dir;
};

// Writes the checkpoints once per process; python empty when no Python with torch and numpy.
const Fixture& fixture() {
  static Fixture f = [] {
    Fixture out;
    out.python = test::python_with("torch,numpy");
    if (out.python.empty()) return out;
    // CTest runs each case in its own process, in parallel: one folder per process, since
    // scratch_dir empties the folder it returns.
    out.dir = test::scratch_dir("convert_" + std::to_string(::getpid()));
    auto model = models::build_model(models::zoo_config("SiT-T/4"));
    const std::string spec = test::shape_spec(model->state_dict());
    test::write_bytes(out.dir + "/spec.txt", spec);
    test::write_bytes(out.dir + "/make.py", kMakeCheckpoints);
    const std::string command = out.python + " " + out.dir + "/make.py " + out.dir;
    REQUIRE(std::system(command.c_str()) == 0);
    return out;
  }();
  if (f.python.empty()) test::skip_test("no python3 with torch and numpy (Debian: python3-torch)");
  return f;
}

size_t lines(const std::string& text) {
  size_t n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("fluxion convert writes the same bytes as the Python converters", "[e2e][convert]") {
  const auto& f = fixture();
  const std::string& d = f.dir;
  struct Job {
    std::string input, output, python_args, fluxion_args;
  };
  std::vector<Job> jobs;
  for (const std::string suffix : {"", "_legacy"}) {
    jobs.push_back({"released" + suffix, "released" + suffix, "", ""});
    jobs.push_back({"odd" + suffix, "odd" + suffix, "", ""});
    jobs.push_back({"training" + suffix, "training" + suffix, "\t--trusted\t--model\tSiT-T/4", " --model SiT-T/4"});
    jobs.push_back({"training" + suffix, "training_raw" + suffix, "\t--trusted\t--key\tmodel", " --weights model"});
    jobs.push_back({"ddp" + suffix, "ddp" + suffix,
                    "\t--trusted\t--key\tmodel\t--strip-prefix\tmodule.\t--strip-prefix\t_orig_mod.",
                    " --weights model --strip-prefix module. --strip-prefix _orig_mod."});
    jobs.push_back({"jit" + suffix, "jit" + suffix, "\t--trusted", ""});
    jobs.push_back({"jit" + suffix, "jit_ema" + suffix, "\t--trusted\t--key\tmodel_ema1\t--strip-prefix\tnet.",
                    " --weights ema --strip-prefix net."});
  }
  std::string lines_py;
  for (const auto& job : jobs)
    lines_py += std::string(FLUXION_SOURCE_DIR) + "/tools/convert_checkpoint.py\t" + d + "/" + job.input + ".pt\t" + d +
                "/" + job.output + "_py.safetensors" + job.python_args + "\n";
  for (const std::string suffix : {"", "_legacy"})
    lines_py += std::string(FLUXION_SOURCE_DIR) + "/tools/convert_inception.py\t" + d + "/inception" + suffix +
                ".pt\t" + d + "/inception" + suffix + "_py.safetensors\n";
  test::write_bytes(d + "/jobs.txt", lines_py);
  test::write_bytes(d + "/run.py", kRunConverters);
  REQUIRE(std::system((f.python + " " + d + "/run.py " + d + "/jobs.txt >" + d + "/python.log 2>&1").c_str()) == 0);

  for (const std::string suffix : {"", "_legacy"})
    jobs.push_back({"inception" + suffix, "inception" + suffix, "", " --inception"});
  for (const auto& job : jobs) {
    const std::string out = d + "/" + job.output + "_cpp.safetensors";
    const auto result = test::run_fluxion("convert " + d + "/" + job.input + ".pt " + out + job.fluxion_args);
    INFO(job.output << ": " << result.output);
    REQUIRE(result.exit_code == 0);
    const auto expected = test::read_bytes(d + "/" + job.output + "_py.safetensors");
    REQUIRE(!expected.empty());
    CHECK(test::read_bytes(out) == expected);
    if (job.output == "jit") CHECK(result.output.find("'model_ema1'; --weights ema") != std::string::npos);
  }

  // The converted files load: SiT-T/4 takes the released weights as they were made.
  auto model = models::build_model(models::zoo_config("SiT-T/4"));
  core::Metadata meta;
  model->load_state(core::load_safetensors(d + "/released_legacy_cpp.safetensors", &meta), "converted");
  CHECK(meta.count("source_key") == 0);
  CHECK(meta.at("source") == "released_legacy.pt");
  int64_t index = 0;
  for (const auto& [name, tensor] : model->state_dict()) {
    INFO(name);
    auto expected = (torch::arange(tensor.numel(), torch::kFloat) * 1e-3 + index++).reshape(tensor.sizes());
    CHECK(test::max_abs_diff(tensor, expected) == 0);
  }
  auto training = core::load_safetensors(d + "/training_cpp.safetensors", &meta);
  CHECK(meta.at("source_key") == "ema");
  CHECK(meta.at("model") == "SiT-T/4");
  auto odd = core::load_safetensors(d + "/odd_cpp.safetensors");
  CHECK(odd.at("view").sizes() == torch::IntArrayRef({3, 2}));
  CHECK(torch::equal(odd.at("view"), odd.at("f32").slice(0, 2, 5).slice(1, 1, 3)));
  CHECK(torch::equal(odd.at("transposed"), odd.at("f32").t()));
  CHECK(odd.at("bf16").scalar_type() == torch::kBFloat16);
  CHECK(odd.at("scalar").dim() == 0);
  // ... and sample, given the model's name.
  const auto sampled = test::run_fluxion("sample --ckpt " + d +
                                         "/training_cpp.safetensors --model SiT-T/4 --n 2 "
                                         "--steps 2 --device cpu --out " +
                                         d + "/samples");
  INFO(sampled.output);
  CHECK(sampled.exit_code == 0);
  CHECK(std::filesystem::exists(d + "/samples"));
}

TEST_CASE("fluxion convert refuses Python objects it needs, and broken files, in one line", "[e2e][convert]") {
  const auto& f = fixture();
  const std::string& d = f.dir;
  const std::string out = d + "/refused.safetensors";
  test::write_bytes(out, "previous contents");
  auto expect_refusal = [&](const std::string& args, const std::vector<std::string>& fragments) {
    const auto result = test::run_fluxion("convert " + args + " " + out);
    INFO(args << ": " << result.output);
    CHECK(result.exit_code == 1);
    CHECK(lines(result.output) == 1);
    for (const auto& fragment : fragments) CHECK(result.output.find(fragment) != std::string::npos);
    CHECK(test::read_bytes(out) == "previous contents");  // never half-written
  };
  for (const std::string suffix : {"", "_legacy"}) {
    expect_refusal(d + "/forbidden" + suffix + ".pt", {"forbidden" + suffix + ".pt", "['ema']", "__main__.BoxDict"});
    // numpy 2 pickles its scalars as numpy._core.multiarray.scalar, numpy 1 as numpy.core...
    expect_refusal(d + "/numpy" + suffix + ".pt", {"['ema']['scale']", "core.multiarray.scalar"});
    expect_refusal(d + "/module" + suffix + ".pt", {"torch.nn.modules.linear.Linear", "state_dict()"});
    expect_refusal(d + "/training" + suffix + ".pt --key args", {"['args']", "argparse.Namespace"});
    expect_refusal(d + "/training" + suffix + ".pt --key nope", {"no entry 'nope'", "['model', 'ema', 'opt', 'args']"});
  }
  // Truncated and corrupt files.
  const auto zip = test::read_bytes(d + "/training.pt");
  const auto legacy = test::read_bytes(d + "/training_legacy.pt");
  test::write_bytes(d + "/cut.pt", zip.substr(0, zip.size() / 2));
  expect_refusal(d + "/cut.pt", {"cut.pt"});
  test::write_bytes(d + "/cut_legacy.pt", legacy.substr(0, legacy.size() - 10));
  expect_refusal(d + "/cut_legacy.pt", {"cut_legacy.pt", "truncated"});
  test::write_bytes(d + "/cut_pickle.pt", legacy.substr(0, 300));
  expect_refusal(d + "/cut_pickle.pt", {"cut_pickle.pt", "truncated"});
  auto flipped = test::read_bytes(d + "/released.pt");  // every storage of this file is read
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x5a);
  test::write_bytes(d + "/flipped.pt", flipped);
  expect_refusal(d + "/flipped.pt", {"flipped.pt"});
  expect_refusal(std::string(FLUXION_SOURCE_DIR) + "/README.md", {"README.md", "not a torch.save file"});
  expect_refusal(d + "/missing.pt", {"missing.pt"});
  expect_refusal(d + "/numpy.pt --weights model", {"no state dict found", "pass --key"});
  expect_refusal(d + "/released.pt --inception", {"not the FID Inception state dict", "missing"});
}

TEST_CASE("convert survives every truncation and byte flip of a torch.save file", "[unit][convert]") {
  const auto& f = fixture();
  const std::string& d = f.dir;
  int converted = 0, refused = 0;
  auto attempt = [&](const std::string& bytes) {
    test::write_bytes(d + "/fuzz.pt", bytes);
    core::ConvertOptions options;
    options.input = d + "/fuzz.pt";
    options.output = d + "/fuzz.safetensors";
    try {
      core::convert_torch_checkpoint(options);
      ++converted;
    } catch (const Error& e) {
      const std::string what = e.what();
      INFO(what);
      CHECK(what.find('\n') == std::string::npos);
      CHECK(what.find("fuzz.pt") != std::string::npos);
      ++refused;
    }
  };
  // The legacy format has no checksums: every byte of the pickles and storages is tried.
  const auto legacy = test::read_bytes(d + "/tiny_legacy.pt");
  for (size_t cut = 0; cut < legacy.size(); ++cut) attempt(legacy.substr(0, cut));
  for (size_t i = 0; i < legacy.size(); ++i) {
    auto bytes = legacy;
    bytes[i] = static_cast<char>(bytes[i] ^ 0xff);
    attempt(bytes);
  }
  const auto zip = test::read_bytes(d + "/tiny.pt");
  for (size_t cut = 0; cut < zip.size(); cut += 7) attempt(zip.substr(0, cut));
  for (size_t i = 0; i < zip.size(); i += 3) {
    auto bytes = zip;
    bytes[i] = static_cast<char>(bytes[i] ^ 0xff);
    attempt(bytes);
  }
  CHECK(converted > 0);
  CHECK(refused > 0);
}

TEST_CASE("convert's unpickler reads data only and fails in one line", "[unit][convert]") {
  using core::pickle::Kind;
  auto run = [](const std::string& bytes) {
    core::pickle::MemorySource source(bytes.data(), bytes.size());
    return core::pickle::unpickle(
        source, [](const core::pickle::ValuePtr&) { return core::pickle::ValuePtr(); }, "t.pkl");
  };
  const std::string proto("\x80\x02", 2);
  // A million nested lists are built and freed without recursion.
  const size_t depth = 1000000;
  auto root = run(proto + std::string(depth, ']') + std::string(depth - 1, 'a') + ".");
  CHECK(root->kind == Kind::list);
  root.reset();
  // Globals are names, never imported or called: os.system('echo') is an inert object.
  auto call = run(proto + "cos\nsystem\nX" + std::string("\x04\x00\x00\x00", 4) + "echo\x85R.");
  CHECK(call->kind == Kind::object);
  CHECK(call->text == "os.system");
  // A dict key made of 40 levels of shared tuples (2^40 leaves) costs little to identify.
  std::string shared = proto + "}K\x01K\x01\x86q";
  shared += '\0';
  shared += '0';
  for (int k = 1; k < 40; ++k) {
    for (int twice = 0; twice < 2; ++twice) {
      shared += 'h';
      shared += static_cast<char>(k - 1);
    }
    shared += "\x86q";
    shared += static_cast<char>(k);
    shared += '0';
  }
  shared += 'h';
  shared += static_cast<char>(39);
  shared += "Ns.";
  CHECK(run(shared)->entries.size() == 1);
  // Malformed and truncated pickles.
  test::expect_one_line_error([&] { run(proto + "h\x05."); }, {"t.pkl", "memo entry 5"});
  test::expect_one_line_error([&] { run(proto + "."); }, {"t.pkl", "STOP on an empty stack"});
  test::expect_one_line_error([&] { run(proto + "I12\n."); }, {"t.pkl", "unsupported opcode 0x49"});
  test::expect_one_line_error([&] { run(proto + "X" + std::string("\xff\x00\x00\x00", 4) + "ab"); },
                              {"t.pkl", "ends early"});
  test::expect_one_line_error([&] { run(proto + "(u."); }, {"t.pkl", "stack underflow"});
  test::expect_one_line_error([&] { run(proto + "]K\x01K\x02s."); }, {"t.pkl", "SETITEM on a list"});
  test::expect_one_line_error([&] { run(proto + std::string("X\x02\x00\x00\x00\xc3\x28.", 8)); },
                              {"t.pkl", "not valid UTF-8"});
  test::expect_one_line_error([&] { run(proto + "(K\x01K\x02tQ."); }, {"t.pkl", "not a storage"});
}
