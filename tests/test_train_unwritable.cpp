// Issue 18: a run whose output folder fills up or turns read-only stops with one clear line and
// leaves the last good checkpoint intact and loadable. Root mounts a small tmpfs (a real full
// disk, a real read-only remount); without root the read-only case uses chmod, and the full disk
// is skipped.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <iomanip>
#include <sstream>

#include "core/error.h"
#include "objectives/checkpoint.h"
#include "test_helpers.h"

using namespace fluxion;
namespace fs = std::filesystem;

namespace {
// Quick checkpoints, nothing else written while training: the checkpoint write is what fails.
const std::string kRun =
    " train --model SiT-T/4 --batch 4 --device cpu --data-threads 1 --grid-images 0 --log-every 1000"
    " --sample-every 100000 --keep-checkpoints 0 ";

// A tmpfs of `size` on `dir`, unmounted when the test ends (also when it fails).
class TmpfsMount {
 public:
  TmpfsMount(const std::string& dir, const std::string& size) : dir_(dir) {
    fs::create_directories(dir);
    mounted_ = test::run_shell("mount -t tmpfs -o size=" + size + " fluxion-test " + dir).exit_code == 0;
  }
  ~TmpfsMount() {
    if (mounted_) test::run_shell("umount -l " + dir_);
  }
  bool mounted() const { return mounted_; }

 private:
  std::string dir_;
  bool mounted_ = false;
};

// scratch_dir, after unmounting what an aborted earlier run of the test may have left mounted.
std::string fresh_dir(const std::string& name) {
  test::run_shell("umount -l " + (fs::path(FLUXION_TEST_TMP) / name / "disk").string() + " 2>/dev/null");
  return test::scratch_dir(name);
}

// The last line of the output is fluxion's one-line error, and no other line is an error.
std::string the_error_line(const std::string& output) {
  std::istringstream lines(output);
  std::string line, error;
  int errors = 0;
  while (std::getline(lines, line)) {
    if (line.find("error") == std::string::npos) continue;
    ++errors;
    error = line;
  }
  CHECK(errors == 1);
  CHECK(error.rfind("fluxion: error: ", 0) == 0);
  return error;
}

// last.safetensors loads completely and matches the step file it was linked from; no temporary
// file is left behind. Returns its step.
int64_t check_last_good(const std::string& run) {
  const auto dir = run + "/checkpoints";
  REQUIRE(fs::exists(dir + "/last.safetensors"));
  const auto checkpoint = objectives::load_checkpoint(dir + "/last.safetensors");
  CHECK(!checkpoint.model.empty());
  std::ostringstream step_file;
  step_file << dir << "/step-" << std::setw(7) << std::setfill('0') << checkpoint.step << ".safetensors";
  REQUIRE(fs::exists(step_file.str()));
  CHECK(fs::file_size(step_file.str()) == fs::file_size(dir + "/last.safetensors"));
  for (const auto& entry : fs::directory_iterator(dir))
    CHECK(entry.path().filename().string().find(".tmp.") == std::string::npos);
  return checkpoint.step;
}
}  // namespace

TEST_CASE("a run that fills the disk stops with one line and keeps the last good checkpoint", "[e2e][train]") {
  if (::geteuid() != 0) test::skip_test("a full disk needs root (a small tmpfs mount)");
  const auto dir = fresh_dir("train_disk_full");
  // A checkpoint's size, from a one-step run; the disk then holds two and a half.
  auto sizing = test::run_fluxion(kRun + "--steps 1 --out " + dir + "/sizing");
  INFO(sizing.output);
  REQUIRE(sizing.exit_code == 0);
  const auto checkpoint_bytes = fs::file_size(dir + "/sizing/checkpoints/last.safetensors");
  TmpfsMount disk(dir + "/disk", std::to_string(checkpoint_bytes * 5 / 2));
  if (!disk.mounted()) test::skip_test("cannot mount a tmpfs here");

  auto r = test::run_fluxion(kRun + "--steps 50 --ckpt-every 1 --out " + dir + "/disk/run");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  const auto error = the_error_line(r.output);
  CHECK(error.find("checkpoint of step 3 not written") != std::string::npos);
  CHECK(error.find("No space left on device") != std::string::npos);
  CHECK(error.find("the last good checkpoint is " + dir + "/disk/run/checkpoints/last.safetensors") !=
        std::string::npos);
  CHECK(check_last_good(dir + "/disk/run") == 2);
  CHECK(!fs::exists(dir + "/disk/run/checkpoints/step-0000003.safetensors"));
}

TEST_CASE("a run whose output turns read-only stops with one line and keeps the last good checkpoint", "[e2e][train]") {
  const auto dir = fresh_dir("train_read_only");
  const bool root = ::geteuid() == 0;
  std::unique_ptr<TmpfsMount> disk;
  std::string run = dir + "/run", make_read_only = "chmod a-w " + run + "/checkpoints";
  if (root) {  // chmod does not stop root: remount read-only (refused while a file is open for writing)
    disk = std::make_unique<TmpfsMount>(dir + "/disk", "512m");
    if (!disk->mounted()) test::skip_test("cannot mount a tmpfs here (root ignores chmod)");
    run = dir + "/disk/run";
    make_read_only = "until mount -o remount,ro " + dir + "/disk 2>/dev/null; do sleep 0.05; done";
  }
  // Turned read-only once the first checkpoint exists, while the run goes on; the wait gives up
  // after 10 minutes or when the run ends by itself.
  const auto last = run + "/checkpoints/last.safetensors";
  test::write_bytes(dir + "/script.sh", std::string("\"") + FLUXION_BINARY + "\" " + kRun +
                                            "--steps 100000 --ckpt-every 2 --out " + run + " >" + dir +
                                            "/log 2>&1 &\n"
                                            "P=$!\n"
                                            "for i in $(seq 6000); do [ -e " +
                                            last + " ] && break; kill -0 $P 2>/dev/null || break; sleep 0.1; done\n" +
                                            make_read_only +
                                            "\n"
                                            "wait $P; echo \"exit status $?\"\n");
  auto r = test::run_shell("timeout -s KILL 900 bash " + dir + "/script.sh");
  const auto log = test::read_bytes(dir + "/log");
  INFO(r.output << log);
  CHECK(r.output.find("exit status 1\n") != std::string::npos);
  const auto error = the_error_line(log);
  CHECK(error.find("not written") != std::string::npos);
  CHECK((error.find("Read-only file system") != std::string::npos ||
         error.find("Permission denied") != std::string::npos));
  CHECK(error.find("the last good checkpoint is " + last) != std::string::npos);
  CHECK(check_last_good(run) >= 2);
  if (!root) test::run_shell("chmod u+w " + run + "/checkpoints");  // scratch_dir can clear it next time
}
