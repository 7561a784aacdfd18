#include "frontend/image/remote_blob.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "frontend/image/registry_util.h"
#include "frontend/log.h"
#include "frontend/util/error.h"
#include "frontend/util/printable.h"

namespace grootfs::frontend::image {
namespace {

namespace reg = registry;
using Clock = std::chrono::steady_clock;

// A layer's blob from the network: locations tried in order (urls, mirrors, the registry),
// each with retries that resume from the byte reached.
class RemoteBlob : public BlobSource {
 public:
  RemoteBlob(std::shared_ptr<Puller> puller, const LayerSpec& layer)
      : puller_(std::move(puller)),
        digest_(layer.digest),
        expected_size_(layer.verify ? layer.size : -1),
        locations_(puller_->LocationsFor(layer)) {
    if (locations_.empty()) Fail("it lists no usable url and there is no registry to ask");
    ResetBudget();
  }

  std::size_t Read(unsigned char* buffer, std::size_t size) override;

 private:
  std::string Host() const {
    const Location& loc = locations_[current_];
    return loc.url ? loc.url->Authority() : loc.endpoint->Name();
  }

  [[noreturn]] void Fail(const std::string& why) const {
    throw Error("cannot pull " + puller_->image() + ": layer " + digest_ + ": " + why);
  }

  void ResetBudget();
  void Next(const std::string& why, bool endpoint_down);
  void Retry(const std::string& why, std::optional<std::chrono::milliseconds> retry_after);
  void Open();
  void Opened(std::unique_ptr<http::Stream> s);

  std::shared_ptr<Puller> puller_;
  std::string digest_;
  std::int64_t expected_size_;
  std::vector<Location> locations_;
  std::size_t current_ = 0;
  std::unique_ptr<http::Stream> stream_;
  std::uint64_t offset_ = 0;
  std::uint64_t skip_ = 0;
  bool length_known_ = false;
  bool done_ = false;
  reg::RetryBudget budget_;
  Clock::time_point attempts_started_;
  std::string earlier_;
};

std::size_t RemoteBlob::Read(unsigned char* buffer, std::size_t size) {
  while (true) {
    if (done_) return 0;
    if (!stream_) {
      Open();
      continue;
    }
    std::size_t n = 0;
    try {
      n = stream_->Read(buffer, size);
    } catch (const http::TransferError& e) {
      stream_.reset();
      const std::string host = Host();
      if (e.retryable()) {
        Retry(reg::TransferMessage(e, host, false), std::nullopt);
      } else {
        Next(reg::TransferMessage(e, host, false), false);
      }
      continue;
    }
    if (n == 0) {
      stream_.reset();
      if (!length_known_ && expected_size_ >= 0 &&
          offset_ < static_cast<std::uint64_t>(expected_size_)) {
        Retry("the connection to " + Host() + " closed at byte " + std::to_string(offset_),
              std::nullopt);
        continue;
      }
      done_ = true;
      return 0;
    }
    if (skip_ > 0) {
      const std::size_t drop = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, n));
      skip_ -= drop;
      if (drop == n) continue;
      std::memmove(buffer, buffer + drop, n - drop);
      n -= drop;
    }
    offset_ += n;
    budget_.OnProgress();
    return n;
  }
}

void RemoteBlob::ResetBudget() {
  const Location& loc = locations_[current_];
  if (loc.endpoint != nullptr && !loc.endpoint->mirror) {
    budget_ = reg::RetryBudget();
  } else {
    budget_ = reg::RetryBudget(reg::RetryBudget::Limits{2, std::chrono::milliseconds(250),
                                                        std::chrono::milliseconds(2000),
                                                        std::chrono::milliseconds(20000)});
  }
  attempts_started_ = Clock::now();
}

// This location is no good: the next one, from the byte reached, or the end.
void RemoteBlob::Next(const std::string& why, bool endpoint_down) {
  const Location& loc = locations_[current_];
  if (endpoint_down) puller_->MarkDown(loc.endpoint);
  if (current_ + 1 >= locations_.size()) {
    Fail(earlier_.empty() ? why : why + " (also failed: " + earlier_ + ")");
  }
  Logger::Get().Info("layer-source-failed", {{"digest", digest_},
                                             {"from", loc.Name()},
                                             {"error", why},
                                             {"next", locations_[current_ + 1].Name()},
                                             {"offset", offset_}});
  if (!earlier_.empty()) earlier_ += "; ";
  earlier_ += loc.Name() + ": " + Printable(why, 150);
  ++current_;
  ResetBudget();
}

void RemoteBlob::Retry(const std::string& why,
                       std::optional<std::chrono::milliseconds> retry_after) {
  const auto delay = budget_.OnFailure(Clock::now(), retry_after);
  if (!delay) {
    Next(Host() + " keeps failing: " + why + " (gave up after " +
             std::to_string(budget_.failures()) + " attempts in " +
             reg::Seconds(std::chrono::duration_cast<std::chrono::milliseconds>(
                 Clock::now() - attempts_started_)) +
             ")",
         false);
    return;
  }
  Logger::Get().Info("retrying", {{"digest", digest_},
                                  {"from", locations_[current_].Name()},
                                  {"reason", why},
                                  {"attempt", budget_.failures()},
                                  {"delay_ms", delay->count()},
                                  {"offset", offset_}});
  std::this_thread::sleep_for(*delay);
}

// Opens the current location from the byte reached; on failure, retries it or moves on.
void RemoteBlob::Open() {
  const Location& loc = locations_[current_];
  std::unique_ptr<http::Stream> s;
  try {
    if (current_ == 0 && offset_ == 0) s = puller_->TakePrefetched(digest_, loc);
    if (!s) s = puller_->OpenBlobAt(loc, digest_, offset_);
  } catch (const http::TransferError& e) {
    if (e.retryable()) {
      Retry(reg::TransferMessage(e, Host(), false), std::nullopt);
    } else {
      const bool down = e.kind() == http::TransferError::Kind::kConnect ||
                        e.kind() == http::TransferError::Kind::kResolve;
      Next(reg::TransferMessage(
               e, Host(),
               loc.endpoint != nullptr && !loc.endpoint->mirror && !loc.endpoint->insecure),
           down);
    }
    return;
  } catch (const Error& e) {
    Next(e.what(), false);
    return;
  }
  Opened(std::move(s));
}

// The answer of the current location: the body to read from the byte reached, or a retry, or
// the next location.
void RemoteBlob::Opened(std::unique_ptr<http::Stream> s) {
  const Location& loc = locations_[current_];
  const long status = s->status();
  if (status == 200 || status == 206) {
    const reg::ResumeDecision d = reg::CheckRangeResponse(
        offset_, status, s->Header("content-range"), s->ContentLength(), expected_size_);
    if (!d.ok) {
      if (d.size_mismatch) {
        Next("layer " + digest_ + " does not match its size (" + d.error + ")", false);
      } else {
        Retry(Host() + " sent " + d.error, std::nullopt);
      }
      return;
    }
    skip_ = d.skip;
    const std::string encoding = s->Header("transfer-encoding").value_or("");
    length_known_ = s->ContentLength().has_value() || encoding.find("chunked") != std::string::npos;
    Logger::Get().Info(
        "fetching-layer",
        {{"digest", digest_}, {"from", loc.Name()}, {"size", expected_size_}, {"offset", offset_}});
    stream_ = std::move(s);
    return;
  }
  const std::string host = Host();
  if (reg::IsRetryableStatus(status)) {
    const auto retry_after = reg::ParseRetryAfter(s->Header("retry-after"));
    s.reset();
    Retry("HTTP " + std::to_string(status) + " from " + host, retry_after);
    return;
  }
  s.reset();
  Next(puller_->StatusMessage(loc.endpoint, status, host, "blob " + digest_), false);
}

}  // namespace

std::unique_ptr<BlobSource> RemoteBlobOpener::Open(const LayerSpec& layer) const {
  return std::make_unique<RemoteBlob>(puller_, layer);
}

}  // namespace grootfs::frontend::image
