// A growable byte buffer for responses and log lines. Capacity is kept across
// clear() so a connection's steady state does no allocation.
#pragma once

#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

namespace phigate {

/** Contiguous, growable, reusable byte buffer (no per-append allocation). */
class Buffer {
 public:
  Buffer() = default;
  ~Buffer() { free(data_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept { swap(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    swap(o);
    return *this;
  }

  void swap(Buffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(cap_, o.cap_);
  }

  char* data() { return data_; }
  const char* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return cap_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return {data_, size_}; }
  void clear() { size_ = 0; }
  /** Keeps only the first `n` bytes (n <= size()). */
  void truncate(size_t n) { size_ = n < size_ ? n : size_; }

  /** Frees the storage (used when a connection goes idle). */
  void release() {
    free(data_);
    data_ = nullptr;
    size_ = cap_ = 0;
  }

  void reserve(size_t n) {
    if (n <= cap_) return;
    size_t cap = cap_ ? cap_ : 256;
    while (cap < n) cap *= 2;
    void* p = realloc(data_, cap);
    if (p == nullptr) throw std::bad_alloc();
    data_ = static_cast<char*>(p);
    cap_ = cap;
  }

  /** Returns space for `n` more bytes; commit(n) after writing them. */
  char* prepare(size_t n) {
    reserve(size_ + n);
    return data_ + size_;
  }
  void commit(size_t n) { size_ += n; }

  void append(std::string_view s) {
    if (s.empty()) return;
    memcpy(prepare(s.size()), s.data(), s.size());
    size_ += s.size();
  }
  void append(char c) {
    *prepare(1) = c;
    ++size_;
  }
  void appendUint(uint64_t v) {
    char tmp[20];
    size_t n = 0;
    do {
      tmp[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    char* p = prepare(n);
    for (size_t i = 0; i < n; ++i) p[i] = tmp[n - 1 - i];
    size_ += n;
  }

  void appendInt(int64_t v) {
    if (v >= 0) return appendUint(static_cast<uint64_t>(v));
    append('-');
    appendUint(static_cast<uint64_t>(-(v + 1)) + 1);  // INT64_MIN has no positive twin
  }

  /** Drops the first `n` bytes (used after a partial write). */
  void consume(size_t n) {
    if (n >= size_) {
      size_ = 0;
      return;
    }
    memmove(data_, data_ + n, size_ - n);
    size_ -= n;
  }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
};

}  // namespace phigate
