#include <catch2/catch.hpp>

#include <zlib.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/image_io.h"
#include "test_helpers.h"

using namespace fluxion;

namespace {

std::string be32(uint32_t v) { return {char(v >> 24), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)}; }
std::string png_chunk(const std::string& type, const std::string& data) {
  const std::string body = type + data;
  const auto crc = crc32(0, reinterpret_cast<const Bytef*>(body.data()), body.size());
  return be32(static_cast<uint32_t>(data.size())) + body + be32(static_cast<uint32_t>(crc));
}
// A 16-bit grayscale PNG, written independently of stb (filter 0 on every row).
std::string png16_gray(const std::vector<std::vector<uint16_t>>& rows) {
  const uint32_t h = rows.size(), w = rows[0].size();
  std::string raw;
  for (const auto& row : rows) {
    raw += '\0';
    for (uint16_t v : row) raw += {char(v >> 8), char(v & 0xff)};
  }
  uLongf size = compressBound(raw.size());
  std::string z(size, '\0');
  compress(reinterpret_cast<Bytef*>(z.data()), &size, reinterpret_cast<const Bytef*>(raw.data()), raw.size());
  z.resize(size);
  const std::string ihdr = be32(w) + be32(h) + std::string{16, 0, 0, 0, 0};
  return std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) + png_chunk("IDAT", z) + png_chunk("IEND", "");
}

// The rule written out on scalars in float arithmetic, as the reference scripts run it.
uint8_t sit_reference(float x) {
  volatile float scaled = 127.5f * x;
  volatile float shifted = scaled + 128.0f;
  const float clamped = std::min(std::max(static_cast<float>(shifted), 0.0f), 255.0f);
  return static_cast<uint8_t>(clamped);
}
uint8_t adm_reference(float x) {
  volatile float shifted = x + 1.0f;
  volatile float scaled = shifted * 127.5f;
  const float clamped = std::min(std::max(static_cast<float>(scaled), 0.0f), 255.0f);
  return static_cast<uint8_t>(clamped);
}

void expect_rejected(const std::string& path, const std::string& fragment) {
  test::expect_one_line_error([&] { core::read_image(path); }, {path, fragment});
}

}  // namespace

TEST_CASE("PNG files round-trip gray and RGB images", "[unit][image]") {
  const auto dir = test::scratch_dir("image_png");
  torch::manual_seed(3);
  const auto gray = torch::randint(0, 256, {1, 13, 17}, torch::kUInt8);
  const auto rgb = torch::randint(0, 256, {3, 9, 31}, torch::kUInt8);
  core::write_png(dir + "/gray.png", gray);
  core::write_png(dir + "/rgb.png", rgb.permute({0, 2, 1}).contiguous().permute({0, 2, 1}));
  CHECK(test::read_bytes(dir + "/gray.png").substr(1, 3) == "PNG");
  const auto g = core::read_image(dir + "/gray.png");
  CHECK(g.sizes() == gray.sizes());
  CHECK(torch::equal(g, gray));
  const auto c = core::read_image(dir + "/rgb.png");
  CHECK(c.sizes() == rgb.sizes());
  CHECK(torch::equal(c, rgb));
  // Gray read as RGB repeats the channel.
  const auto g3 = core::read_image(dir + "/gray.png", 3);
  CHECK(torch::equal(g3, gray.expand({3, 13, 17})));
  CHECK(core::read_image(dir + "/rgb.png", 1).sizes() == torch::IntArrayRef({1, 9, 31}));
  CHECK_THROWS_AS(core::write_png(dir + "/x.png", torch::zeros({2, 4, 4}, torch::kUInt8)), Error);
  CHECK_THROWS_AS(core::write_png(dir + "/x.png", torch::zeros({3, 4, 4})), Error);
}

TEST_CASE("16-bit PNGs are reduced to 8 bits", "[unit][image]") {
  const auto image =
      core::decode_image(png16_gray({{0, 255, 256, 65535}, {0x1234, 0xabcd, 0x8000, 0x80ff}}), "sixteen.png");
  REQUIRE(image.sizes() == torch::IntArrayRef({1, 2, 4}));
  CHECK(torch::equal(image[0], torch::tensor({{0, 0, 1, 255}, {0x12, 0xab, 0x80, 0x80}}, torch::kUInt8)));
}

TEST_CASE("broken images are rejected naming the file", "[unit][image]") {
  const auto dir = test::scratch_dir("image_bad");
  core::write_png(dir + "/good.png", torch::randint(0, 256, {3, 32, 32}, torch::kUInt8));
  const std::string good = test::read_bytes(dir + "/good.png");
  test::write_bytes(dir + "/half.png", good.substr(0, good.size() / 2));
  expect_rejected(dir + "/half.png", "cannot decode");
  test::write_bytes(dir + "/header_only.png", good.substr(0, 20));
  expect_rejected(dir + "/header_only.png", "cannot decode");
  std::string noise;
  for (int i = 0; i < 4096; ++i) noise += static_cast<char>((i * 2654435761u) >> 13);
  test::write_bytes(dir + "/noise.png", noise);
  expect_rejected(dir + "/noise.png", "cannot decode");
  expect_rejected(dir + "/missing.png", "cannot open");
  CHECK_THROWS_WITH(core::decode_image("", "empty-bytes"), Catch::Contains("empty-bytes"));
}

TEST_CASE("a PNG with an empty IDAT chunk fails cleanly (fuzz_image finding)", "[unit][image]") {
  // stb copies the empty chunk with memcpy(NULL, src, 0), which UBSan reports (stb_impl.cpp is
  // exempt from that one check in the fuzz build); the chunk after it is garbage.
  const std::string bytes(
      "\x89PNG\x0d\x0a\x1a\x0a\x00\x00\x00\x0dIHDR\x00\x00\x00\x04\x00\x00\x00\x05\x08\x00\x00\x00"
      "\x00\x00\x00\x00\x00\x00\x00\x00\x00IDATx\xda"
      "c\x05\xa7t\x7f_\x00\x03,hO\x09\xd2\x1c"
      "6"
      "\xb1.\x00\x00\x00\x05\xa7ND\xae"
      "B`\x82\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xffU\x00",
      85);
  REQUIRE(bytes.substr(37, 4) == "IDAT");  // the empty chunk
  for (int channels : {0, 1, 3}) {
    CHECK_THROWS_AS(core::decode_image(bytes, "fuzzed.png", channels), Error);
    CHECK_THROWS_WITH(core::decode_image(bytes, "fuzzed.png", channels),
                      Catch::Contains("fuzzed.png: cannot decode image") && Catch::Contains("unknown PNG chunk type"));
  }
}

TEST_CASE("images declaring too many pixels are refused before decoding (fuzz_image finding)", "[unit][image]") {
  // A 46-byte run-length TGA whose header declares 6168 x 6168 RGB: stb unpacks it to 114 MB,
  // reading zeros once the data ends (0.7 s; 30 s under ASan, libFuzzer's timeout).
  std::string tga(
      "$\x00\x0b$\x18\xe9\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18"
      "\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x18\x89",
      46);
  CHECK_THROWS_AS(core::decode_image(tga, "bomb.tga", 3, int64_t(1) << 22), Error);
  CHECK_THROWS_WITH(core::decode_image(tga, "bomb.tga", 3, int64_t(1) << 22),
                    Catch::Contains("bomb.tga: image of 6168x6168 pixels is larger than the 4194304 pixels"));
  // The same header declaring 65535 x 65535 (4.3 billion pixels, 12 GB): refused at the default.
  tga.replace(12, 4, "\xff\xff\xff\xff");
  CHECK_THROWS_WITH(core::decode_image(tga, "bomb.tga"),
                    Catch::Contains("65535x65535 pixels is larger than the 67108864 pixels"));
}

TEST_CASE("a PNG chunk declaring more than the file holds fails without a huge allocation (fuzz_image finding)",
          "[unit][image]") {
  // After IEND, "IEND" read as the length of an "IDAT" chunk: 1.2 GB declared in an 87-byte file
  // made stb realloc 2 GB before noticing the data was missing; its allocations are now capped
  // (core/stb_impl.cpp), so the request fails as stb's out-of-memory error.
  const std::string bytes(
      "\x89PNG\x0d\x0a\x1a\x0a\x00\x00\x00\x0dIHDR\x00\x00\x00\x04\x00\x00\x00\x05\x08\x00\x00\x00"
      "\x00G\xc6\x12\x07\x00\x00\x00\x22IDATx\xda"
      "cVq\x95\xde\xca"
      "db\xe5\xfa%\xe3"
      "3G\xda\x83"
      "p\xe6\xa7"
      "B\x81\x05,_mO\x09\xd2\x1c"
      "6\xb1.\x00\x00\x00\x00IENDIDAT",
      87);
  CHECK(core::kMaxDecoderAllocation < (uint64_t(1) << 31));
  CHECK_THROWS_AS(core::decode_image(bytes, "chunk.png"), Error);
  CHECK_THROWS_WITH(core::decode_image(bytes, "chunk.png"), Catch::Contains("chunk.png: cannot decode image"));
}

TEST_CASE("a JPEG Huffman table of more than 256 codes is refused before stb (fuzz_image finding)", "[unit][image]") {
  // stb's build_huffman wrote past its 257-entry size table (UBSan: index 257 out of bounds)
  const std::string bytes(
      "\xff\xd8\xff\xe0\x00IIIq\x00II\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b"
      "\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x19\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x13\x1b\x1b\x1b\x1b\x1b\x1b"
      "\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1bIIIIIII\x89PNG\x0d\x0a\x1a\x0aIIIIII\xff\xff\xff\xff"
      "\xff\xff\xff\xc4\xc4\x00\x00\x00\x0dIHDR\x00\x00\x00\x04\x00\x00\x00\x05\x08\x00\x00\x00\x00"
      "G\xc6\x12\x07\x00\xc4\xc4\x00\x00\x22IDATx\xda``\x95q\x18\xca"
      "db\xfa\xe5%\xe3"
      "3G\x83p\xe6"
      "\xa7"
      "B\x81\x05,_\x7f\xa7t\x03\x00mO\x09\xd2\x1c"
      "6\xb1.\x00\x00\xc4\xc4\xff\xff\x00\x00"
      "IEND`\x82",
      177);
  CHECK_THROWS_AS(core::decode_image(bytes, "huffman.jpg"), Error);
  CHECK_THROWS_WITH(core::decode_image(bytes, "huffman.jpg"),
                    Catch::Contains("huffman.jpg: cannot decode image (corrupt JPEG: a Huffman table declares more"));
  // stb also takes FF FF FF D8 for the start (fill bytes): 16 counts of 17 = 272 codes (the second
  // finding, 537 bytes, minimized by hand)
  const std::string filled = std::string("\xff\xff\xff\xd8\xff\xc4\x00\x13\x00", 9) + std::string(16, '\x11');
  CHECK_THROWS_WITH(core::decode_image(filled, "filled.jpg"), Catch::Contains("a Huffman table declares more"));
}

TEST_CASE("a PNM header number too long for int is refused before stb (fuzz_image finding)", "[unit][image]") {
  // stb multiplied 777777777 by 10 in int (UBSan: signed integer overflow)
  const std::string bytes(
      "P577777777777777777777777777777777777777777777777777777777777777770\x0c"
      "1k",
      70);
  CHECK_THROWS_WITH(core::decode_image(bytes, "overflow.pgm"),
                    Catch::Contains("overflow.pgm: cannot decode image (corrupt PNM: a header number of more than 9"));
  // a valid binary PGM with a comment still decodes
  const auto gray = core::decode_image(std::string("P5\n# fluxion\n2 1\n255\n\x07\xf0", 23), "ok.pgm");
  CHECK(gray.sizes() == torch::IntArrayRef({1, 1, 2}));
  CHECK(gray[0][0][1].item<int>() == 240);
}

TEST_CASE("a PNM with maxval above 255 is refused before stb's 16-bit path (fuzz_image finding)", "[unit][image]") {
  // finding 12 (20 bytes): 8 x 339 gray, maxval 675; stb's 16-bit path with a channel conversion
  // read past its buffer (ASan heap-buffer-overflow in stbi__convert_16_to_8)
  const std::string bytes("P58\n\n\n\n\n\n\n\n339\n\n675P", 20);
  for (int channels : {0, 1, 3})
    CHECK_THROWS_WITH(core::decode_image(bytes, "deep.pgm", channels),
                      "deep.pgm: cannot decode image (corrupt PNM: maxval 675 above 255; "
                      "fluxion reads 8-bit PNM only)");
  // a complete, well-formed 16-bit PGM is refused the same way
  const std::string deep = std::string("P5\n2 1\n65535\n", 13) + std::string("\x12\x34\x56\x78", 4);
  CHECK_THROWS_WITH(core::decode_image(deep, "deep16.pgm"), Catch::Contains("maxval 65535 above 255"));
  // maxval 0, zero pixels and data shorter than the header declares are refused too (stb ignored
  // the short read and returned uninitialised pixels)
  CHECK_THROWS_WITH(core::decode_image(std::string("P5 1 1 0 \x07", 10), "zero.pgm"),
                    Catch::Contains("zero.pgm: cannot decode image (corrupt PNM: maxval 0)"));
  CHECK_THROWS_WITH(core::decode_image(std::string("P5 0 1 255 ", 11), "empty.pgm"),
                    Catch::Contains("(corrupt PNM: an image of 0x1 pixels)"));
  CHECK_THROWS_WITH(core::decode_image(std::string("P6 2 2 255\n\x01\x02\x03", 14), "short.ppm"),
                    "short.ppm: cannot decode image (corrupt PNM: truncated: the header declares 2x2 pixels, 12 bytes, "
                    "the file holds 3)");
  // a complete 8-bit PPM decodes, at maxval 255 and below (stb does not rescale)
  const auto rgb = core::decode_image(std::string("P6 1 2 255\n\x01\x02\x03\x04\x05\x06", 17), "ok.ppm");
  CHECK(rgb.sizes() == torch::IntArrayRef({3, 2, 1}));
  CHECK(rgb[2][1][0].item<int>() == 6);
  const auto gray = core::decode_image(std::string("P5\t1 # c\n1\n100\r\x63", 16), "ok.pgm", 3);
  CHECK(gray.sizes() == torch::IntArrayRef({3, 1, 1}));
  CHECK(gray[1][0][0].item<int>() == 99);
}

TEST_CASE("quantisation follows the SiT and ADM rules at the edges", "[unit][image]") {
  using core::Quantization;
  const auto q = [](std::vector<float> values, Quantization rule) {
    return core::to_uint8(torch::tensor(values), rule);
  };
  // SiT: round half up of 127.5 x + 127.5; ADM: floor of 127.5 (x + 1).
  CHECK(torch::equal(q({-1.0f, 0.0f, 1.0f, -2.0f, 2.0f, -0.5f, 0.5f}, Quantization::sit_round),
                     torch::tensor({0, 128, 255, 0, 255, 64, 191}, torch::kUInt8)));
  CHECK(torch::equal(q({-1.0f, 0.0f, 1.0f, -2.0f, 2.0f, -0.5f, 0.5f}, Quantization::adm_floor),
                     torch::tensor({0, 127, 255, 0, 255, 63, 191}, torch::kUInt8)));
  // Just either side of the .5 boundaries of 127.5 x + 127.5 (at k + 0.5 for integer k).
  std::vector<float> below, above;
  std::vector<int> expect_below, expect_above;
  for (int k = 0; k < 255; k += 17) {
    const double boundary = (k + 0.5 - 127.5) / 127.5;
    below.push_back(static_cast<float>(boundary - 1e-4));
    above.push_back(static_cast<float>(boundary + 1e-4));
    expect_below.push_back(k);
    expect_above.push_back(k + 1);
  }
  CHECK(torch::equal(q(below, Quantization::sit_round), torch::tensor(expect_below).to(torch::kUInt8)));
  CHECK(torch::equal(q(above, Quantization::sit_round), torch::tensor(expect_above).to(torch::kUInt8)));

  // Every float in a dense sweep, plus the neighbours of every boundary, matches the scalar
  // rule computed in float as the reference scripts do.
  std::vector<float> sweep;
  for (int i = -120000; i <= 120000; ++i) sweep.push_back(i / 100000.0f);
  for (int k = -1; k <= 256; ++k) {
    for (double boundary : {(k - 128.0) / 127.5, k / 127.5 - 1.0}) {
      float x = static_cast<float>(boundary);
      for (int step = 0; step < 3; ++step) x = std::nextafter(x, -2.0f);
      for (int step = 0; step < 7; ++step, x = std::nextafter(x, 2.0f)) sweep.push_back(x);
    }
  }
  const auto sit = q(sweep, Quantization::sit_round);
  const auto adm = q(sweep, Quantization::adm_floor);
  const auto* s = sit.data_ptr<uint8_t>();
  const auto* a = adm.data_ptr<uint8_t>();
  size_t sit_mismatches = 0, adm_mismatches = 0;
  for (size_t i = 0; i < sweep.size(); ++i) {
    sit_mismatches += s[i] != sit_reference(sweep[i]);
    adm_mismatches += a[i] != adm_reference(sweep[i]);
  }
  CHECK(sit_mismatches == 0);
  CHECK(adm_mismatches == 0);
  // Half precision inputs quantise as their float32 values do.
  const auto halves = torch::linspace(-1, 1, 4097).to(torch::kHalf);
  CHECK(torch::equal(core::to_uint8(halves), core::to_uint8(halves.to(torch::kFloat))));
  // from_uint8 inverts both rules on the 256 levels.
  const auto levels = torch::arange(256).to(torch::kUInt8);
  CHECK(torch::equal(core::to_uint8(core::from_uint8(levels), Quantization::sit_round), levels));
  CHECK(core::from_uint8(levels)[0].item<float>() == -1.0f);
  CHECK(core::from_uint8(levels)[255].item<float>() == 1.0f);
}

TEST_CASE("make_grid tiles images row by row with padding", "[unit][image]") {
  const auto images = (torch::arange(5 * 2 * 2 * 3) + 1).to(torch::kUInt8).reshape({5, 2, 2, 3});
  const auto grid = core::make_grid(images, 0, 2, 7);
  // ceil(sqrt(5)) = 3 columns, 2 rows: (C, 2*(2+2)+2, 3*(3+2)+2)
  REQUIRE(grid.sizes() == torch::IntArrayRef({2, 10, 17}));
  auto covered = torch::zeros({10, 17}, torch::kBool);
  for (int i = 0; i < 5; ++i) {
    const int top = 2 + (i / 3) * 4, left = 2 + (i % 3) * 5;
    CHECK(torch::equal(grid.narrow(1, top, 2).narrow(2, left, 3), images[i]));
    covered.narrow(0, top, 2).narrow(1, left, 3).fill_(true);
  }
  // Everything outside the five tiles (borders, gaps, the empty sixth slot) is padding.
  CHECK((grid.masked_select(covered.logical_not().expand({2, 10, 17})) == 7).all().item<bool>());
  CHECK(covered.sum().item<int64_t>() == 5 * 6);

  const auto tight = core::make_grid(images.narrow(0, 0, 4), 2, 0);
  REQUIRE(tight.sizes() == torch::IntArrayRef({2, 4, 6}));
  CHECK(torch::equal(tight.narrow(1, 2, 2).narrow(2, 3, 3), images[3]));
  CHECK(core::make_grid(images, 8, 1).sizes() == torch::IntArrayRef({2, 4, 21}));
  CHECK_THROWS_AS(core::make_grid(images[0]), Error);
}
