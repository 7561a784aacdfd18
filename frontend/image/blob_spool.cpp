#include "frontend/image/blob_spool.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "frontend/image/digest.h"
#include "frontend/util/error.h"
#include "frontend/util/printable.h"
#include "ipc/unique_fd.h"

namespace grootfs::frontend::image {
namespace {

constexpr std::size_t kChunk = 256 * 1024;

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// An unnamed file in dir: O_TMPFILE, or a named one unlinked at once where that is refused.
ipc::UniqueFd UnnamedFile(const std::string& dir) {
  ipc::UniqueFd fd(open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd) return fd;
  std::string name = dir + "/blob-spool-XXXXXX";
  fd = ipc::UniqueFd(mkostemp(name.data(), O_CLOEXEC));
  if (!fd) throw Error(Errno("cannot make a temporary file in " + Printable(dir)));
  (void)unlink(name.c_str());
  return fd;
}

void WriteAllTo(int fd, const unsigned char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(Errno("cannot write a downloaded blob"));
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

class Spool;

// The process's downloads ahead: at most a limit run at once; the others wait, in the order
// they were asked for, and start as running ones end.
struct SpoolQueue {
  std::mutex mu;
  std::size_t running = 0;
  std::deque<std::weak_ptr<Spool>> waiting;
};

SpoolQueue& Queue() {
  static SpoolQueue queue;
  return queue;
}

// One download into one unnamed file, by a thread of its own once the queue lets it start;
// readers follow what it wrote. A reader that comes before the download started takes the
// blob from the network itself, and the download never starts.
class Spool {
 public:
  Spool(const LayerSpec& layer, ipc::UniqueFd fd) : layer_(layer), fd_(std::move(fd)) {}
  ~Spool() {
    {
      std::lock_guard lock(mu_);
      cancel_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  static void Enqueue(const std::shared_ptr<Spool>& spool, std::size_t limit) {
    SpoolQueue& q = Queue();
    std::unique_lock lock(q.mu);
    if (q.running >= limit) {
      q.waiting.push_back(spool);
      return;
    }
    ++q.running;
    lock.unlock();
    bool started = false;
    try {
      started = spool->Start();
    } catch (const std::exception&) {  // no thread: its reader will use the network
      (void)spool->Claim();
    }
    if (!started) Finished();
  }

  // True when the download started (a reader follows the file); false when it had not: it
  // never will, and the reader goes to the network.
  bool Claim() {
    std::lock_guard lock(mu_);
    if (!started_) bypassed_ = true;
    return started_;
  }

  bool verifies() const { return layer_.verify; }

  // Up to size bytes from offset; 0 only at the end of a complete, verified blob. Throws the
  // download's error.
  std::size_t ReadAt(unsigned char* buffer, std::size_t size, std::uint64_t offset) {
    std::uint64_t available = 0;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return written_ > offset || finished_; });
      if (error_) std::rethrow_exception(error_);
      if (written_ <= offset) return 0;
      available = written_ - offset;
    }
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size, available));
    while (true) {
      const ssize_t n = pread(fd_.get(), buffer, want, static_cast<off_t>(offset));
      if (n > 0) return static_cast<std::size_t>(n);
      if (n < 0 && errno == EINTR) continue;
      throw Error(n == 0 ? "a downloaded blob is shorter than written"
                         : Errno("cannot read a downloaded blob"));
    }
  }

 private:
  void Run() {
    std::exception_ptr error;
    try {
      Download();
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard lock(mu_);
      error_ = error;
      finished_ = true;
    }
    cv_.notify_all();
    Finished();
  }

  // Starts the download unless a reader bypassed it. Throws when no thread can be made.
  bool Start() {
    std::lock_guard lock(mu_);
    if (bypassed_ || started_) return false;
    thread_ = std::thread([this] { Run(); });
    started_ = true;
    return true;
  }

  // A download ended (or never started): its slot goes to the next waiting one.
  static void Finished() {
    SpoolQueue& q = Queue();
    while (true) {
      std::shared_ptr<Spool> next;
      {
        std::lock_guard lock(q.mu);
        if (q.waiting.empty()) {
          --q.running;
          return;
        }
        next = q.waiting.front().lock();
        q.waiting.pop_front();
      }
      try {
        if (next && next->Start()) return;
      } catch (const std::exception&) {  // no thread: its reader will use the network
        (void)next->Claim();
      }
    }
  }

  bool Cancelled() {
    std::lock_guard lock(mu_);
    return cancel_;
  }

  void Download() {
    const std::unique_ptr<BlobSource> source = layer_.remote->Open(layer_);
    std::vector<unsigned char> buffer(kChunk);
    Sha256 hash;
    std::uint64_t bytes = 0;
    const std::string name = "layer " + Printable(layer_.digest);
    for (std::size_t n; (n = source->Read(buffer.data(), buffer.size())) > 0;) {
      if (Cancelled()) throw Error("the download of " + name + " was abandoned");
      bytes += n;
      if (layer_.verify && bytes > static_cast<std::uint64_t>(layer_.size))
        throw Error(name + " does not match its size (declared " + std::to_string(layer_.size) +
                    " bytes, the blob is larger)");
      hash.Update(buffer.data(), n);
      WriteAllTo(fd_.get(), buffer.data(), n);
      {
        std::lock_guard lock(mu_);
        written_ = bytes;
      }
      cv_.notify_all();
    }
    if (layer_.verify) {
      if (bytes != static_cast<std::uint64_t>(layer_.size))
        throw Error(name + " does not match its size (declared " + std::to_string(layer_.size) +
                    " bytes, the blob has " + std::to_string(bytes) + ")");
      if ("sha256:" + hash.HexDigest() != layer_.digest)
        throw Error(name + " is corrupted: its content does not match its digest");
    }
  }

  const LayerSpec layer_;
  const ipc::UniqueFd fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t written_ = 0;  // bytes in the file, readable
  bool finished_ = false;
  bool cancel_ = false;
  bool started_ = false;
  bool bypassed_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

// Reads the spooled file from its start; each Open has its own offset.
class SpooledSource : public BlobSource {
 public:
  explicit SpooledSource(std::shared_ptr<Spool> spool) : spool_(std::move(spool)) {}
  std::size_t Read(unsigned char* buffer, std::size_t size) override {
    const std::size_t n = spool_->ReadAt(buffer, size, offset_);
    offset_ += n;
    return n;
  }
  bool VerifiesDigest() const override { return spool_->verifies(); }

 private:
  std::shared_ptr<Spool> spool_;
  std::uint64_t offset_ = 0;
};

class SpooledOpener : public BlobOpener {
 public:
  SpooledOpener(std::shared_ptr<Spool> spool, std::shared_ptr<const BlobOpener> network)
      : spool_(std::move(spool)), network_(std::move(network)) {}
  std::unique_ptr<BlobSource> Open(const LayerSpec& layer) const override {
    if (!spool_->Claim()) return network_->Open(layer);
    return std::make_unique<SpooledSource>(spool_);
  }

 private:
  std::shared_ptr<Spool> spool_;
  std::shared_ptr<const BlobOpener> network_;
};

}  // namespace

std::shared_ptr<const BlobOpener> SpoolBlob(const LayerSpec& layer, const std::string& dir,
                                            std::size_t max_ahead) {
  if (!layer.remote) throw Error("layer " + layer.digest + " has nowhere to fetch it from");
  if (max_ahead == 0) return layer.remote;
  auto spool = std::make_shared<Spool>(layer, UnnamedFile(dir));
  Spool::Enqueue(spool, max_ahead);
  return std::make_shared<SpooledOpener>(std::move(spool), layer.remote);
}

}  // namespace grootfs::frontend::image
