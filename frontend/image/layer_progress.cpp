#include "frontend/image/layer_progress.h"

#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "frontend/metrics/metrics.h"

namespace grootfs::frontend::image {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kRedrawEvery = std::chrono::milliseconds(100);
constexpr std::size_t kMaxLines = 12;

enum class Phase { kDownloading, kUnpacking, kDone, kFailed };

struct Row {
  const LayerSpec* layer;
  std::string label;
  std::uint64_t bytes = 0;
  Clock::time_point started, downloaded;
  Phase phase = Phase::kDownloading;
};

std::string Size(double bytes) {
  char buffer[32];
  if (bytes >= 1024.0 * 1024 * 1024)
    std::snprintf(buffer, sizeof buffer, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
  else if (bytes >= 1024.0 * 1024)
    std::snprintf(buffer, sizeof buffer, "%.1f MiB", bytes / (1024.0 * 1024));
  else
    std::snprintf(buffer, sizeof buffer, "%.1f KiB", bytes / 1024.0);
  return buffer;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string Describe(const Row& r, Clock::time_point now) {
  const std::int64_t total = r.layer->size;
  std::string text = r.label + "  ";
  switch (r.phase) {
    case Phase::kDownloading: {
      if (total > 0 && r.bytes >= static_cast<std::uint64_t>(total)) return text + "verifying";
      text += (r.layer->blob_path.empty() ? "downloading " : "reading ") +
              Size(static_cast<double>(r.bytes));
      if (total > 0) text += " / " + Size(static_cast<double>(total));
      const double s = Seconds(now - r.started);
      if (s > 0.05) text += "  " + Size(static_cast<double>(r.bytes) / s) + "/s";
      return text;
    }
    case Phase::kUnpacking:
      return text + "unpacking (" + Size(static_cast<double>(r.bytes)) + " downloaded)";
    case Phase::kDone: {
      char took[32];
      std::snprintf(took, sizeof took, "%.1f s", Seconds(now - r.started));
      return text + "done " + Size(static_cast<double>(r.bytes)) + " in " + took;
    }
    case Phase::kFailed:
      return text + "failed";
  }
  return text;
}

class Display {
 public:
  static Display& Get() {
    static Display* d = new Display;  // never destroyed: a worker may report during exit
    return *d;
  }

  void Add(const LayerSpec& layer) {
    std::lock_guard lock(mu_);
    Row r;
    r.layer = &layer;
    const std::string& id = layer.digest.empty() ? layer.cache_key : layer.digest;
    const auto colon = id.find(':');
    r.label = id.substr(colon == std::string::npos ? 0 : colon + 1, 12);
    r.started = Clock::now();
    rows_.push_back(r);
    Draw(true);
  }

  void Bytes(const LayerSpec& layer, std::size_t n) {
    std::lock_guard lock(mu_);
    if (Row* r = Find(layer)) {
      r->bytes += n;
      Draw(false);
    }
  }

  void Set(const LayerSpec& layer, Phase phase) {
    std::lock_guard lock(mu_);
    if (Row* r = Find(layer)) {
      r->phase = phase;
      Draw(true);
    }
    if (phase == Phase::kDone || phase == Phase::kFailed) Forget(layer);
  }

 private:
  Row* Find(const LayerSpec& layer) {
    for (Row& r : rows_)
      if (r.layer == &layer && r.phase != Phase::kDone && r.phase != Phase::kFailed) return &r;
    return nullptr;
  }
  // A finished row stays on screen but no longer answers to its LayerSpec's address.
  void Forget(const LayerSpec& layer) {
    for (Row& r : rows_)
      if (r.layer == &layer && (r.phase == Phase::kDone || r.phase == Phase::kFailed))
        r.layer = &finished_;
  }

  void Draw(bool now_anyway) {
    if (!tty_) return;
    const auto now = Clock::now();
    if (!now_anyway && now - last_ < kRedrawEvery) return;
    last_ = now;
    // Many layers: the finished ones fold into one line, so the block fits a screen.
    std::vector<std::string> lines;
    std::size_t finished = 0;
    for (const Row& r : rows_) finished += r.layer == &finished_ ? 1 : 0;
    const bool fold = rows_.size() > kMaxLines && finished > 0;
    if (fold) lines.push_back(std::to_string(finished) + " layers done");
    for (const Row& r : rows_)
      if (!fold || r.layer != &finished_) lines.push_back(Describe(r, now));
    std::string out;
    if (drawn_ > 0) out += "\x1b[" + std::to_string(drawn_) + "A";
    out += "\r\x1b[J";  // the old block goes, whatever its length
    for (const std::string& line : lines) out += line + "\n";
    drawn_ = lines.size();
    for (std::size_t done = 0; done < out.size();) {
      const ssize_t n = write(STDERR_FILENO, out.data() + done, out.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
  }

  const bool tty_ = isatty(STDERR_FILENO) == 1;  // Garden's stderr is a pipe: nothing drawn
  std::mutex mu_;
  std::vector<Row> rows_;
  std::size_t drawn_ = 0;
  Clock::time_point last_{};
  LayerSpec finished_;  // stands in for the LayerSpec of a finished row
};

}  // namespace

LayerProgress::LayerProgress(const LayerSpec& layer) : layer_(layer), started_(Clock::now()) {
  Display::Get().Add(layer);
}

LayerProgress::~LayerProgress() {
  if (!unpacked_) Display::Get().Set(layer_, Phase::kFailed);
}

void LayerProgress::Downloaded() {
  metrics::Duration("DownloadTime", Clock::now() - started_);
  Display::Get().Set(layer_, Phase::kUnpacking);
}

void LayerProgress::Unpacked() {
  metrics::Duration("UnpackTime", Clock::now() - started_);
  unpacked_ = true;
  Display::Get().Set(layer_, Phase::kDone);
}

void LayerProgress::BlobBytes(const LayerSpec& layer, std::size_t n) {
  Display::Get().Bytes(layer, n);
}

}  // namespace grootfs::frontend::image
