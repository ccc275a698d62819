// A model server's core: one loaded model answering requests from a pool of worker threads, each with its own
// nncore::InferenceSession (its own buffers; the weights shared). Requests go through a queue; each answer is
// checked bit for bit against the single-threaded prediction of the same input, and both throughputs are printed.
//   ./serve MODEL.nncore INPUTS.f32 [WORKERS=8] [REQUESTS=4000]
// INPUTS.f32: samples of the model's input shape as raw little-endian float32 (numpy: x.tofile("x.f32")); request k
// asks for sample k mod N, one sample per request (batch 1, a server's usual case). Exit code 1 on any mismatch.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nncore/nncore.hpp"

namespace {

// A blocking queue of request ids; close() ends the workers' loops.
class RequestQueue {
 public:
  void push(int64_t id) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ids_.push_back(id);
    }
    ready_.notify_one();
  }
  void close() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }
  bool pop(int64_t* id) {  // false once closed and empty
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [&] { return closed_ || !ids_.empty(); });
    if (ids_.empty()) return false;
    *id = ids_.front();
    ids_.pop_front();
    return true;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<int64_t> ids_;
  bool closed_ = false;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 5) {
    std::fprintf(stderr, "usage: %s MODEL.nncore INPUTS.f32 [WORKERS=8] [REQUESTS=4000]\n", argv[0]);
    return 2;
  }
  const int workers = argc > 3 ? std::stoi(argv[3]) : 8;
  const int64_t requests = argc > 4 ? std::stoll(argv[4]) : 4000;
  try {
    std::unique_ptr<nncore::Model> model = nncore::load_model(argv[1], /*compile=*/false);
    std::ifstream in(argv[2], std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const int64_t per_sample = nncore::shape_numel(model->input_shape());
    const int64_t n = static_cast<int64_t>(bytes.size() / sizeof(float)) / per_sample;
    if (n == 0 || static_cast<int64_t>(bytes.size()) != n * per_sample * static_cast<int64_t>(sizeof(float))) {
      std::fprintf(stderr, "%s: expected a multiple of %lld float32 values, got %zu bytes\n", argv[2],
                   static_cast<long long>(per_sample), bytes.size());
      return 1;
    }
    // Request i's input: sample i as a (1, *input_shape) tensor.
    std::vector<nncore::Tensor> inputs;
    nncore::Shape shape{1};
    for (int64_t d : model->input_shape()) shape.push_back(d);
    for (int64_t i = 0; i < n; ++i) {
      nncore::Tensor x(shape);
      std::memcpy(x.data(), bytes.data() + i * per_sample * static_cast<int64_t>(sizeof(float)),
                  sizeof(float) * static_cast<size_t>(per_sample));
      inputs.push_back(std::move(x));
    }
    // Request-level parallelism: each worker's kernels run on its own thread.
    nncore::set_num_threads(1);

    // The reference answers and the single-threaded throughput: one session, the requests in order.
    std::vector<nncore::Tensor> expected(static_cast<size_t>(n));
    nncore::InferenceSession single(*model);
    for (int64_t i = 0; i < n; ++i) expected[static_cast<size_t>(i)] = single.predict(inputs[static_cast<size_t>(i)]);
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t k = 0; k < requests; ++k) single.predict(inputs[static_cast<size_t>(k % n)]);
    const double single_rate = static_cast<double>(requests) / seconds_since(t0);

    // The server: a pool of workers, each with its own session, answering queued requests.
    RequestQueue queue;
    std::atomic<int64_t> mismatches{0}, answered{0};
    std::vector<std::thread> pool;
    t0 = std::chrono::steady_clock::now();
    for (int w = 0; w < workers; ++w)
      pool.emplace_back([&] {
        nncore::InferenceSession session(*model);
        nncore::Tensor y;
        int64_t id;
        while (queue.pop(&id)) {
          const size_t i = static_cast<size_t>(id % n);
          session.predict_into(inputs[i], y);
          if (y.shape() != expected[i].shape() ||
              std::memcmp(y.data(), expected[i].data(), sizeof(float) * static_cast<size_t>(y.size())) != 0)
            ++mismatches;
          ++answered;
        }
      });
    for (int64_t k = 0; k < requests; ++k) queue.push(k);
    queue.close();
    for (std::thread& t : pool) t.join();
    const double pool_rate = static_cast<double>(requests) / seconds_since(t0);

    std::printf("model '%s', %lld distinct inputs, %lld requests of batch 1\n", model->name().c_str(),
                static_cast<long long>(n), static_cast<long long>(requests));
    std::printf("single-threaded: %.0f requests/s\n", single_rate);
    std::printf("%d workers: %.0f requests/s (%.2fx)\n", workers, pool_rate, pool_rate / single_rate);
    std::printf("answered: %lld, mismatches: %lld\n", static_cast<long long>(answered.load()),
                static_cast<long long>(mismatches.load()));
    return mismatches.load() == 0 && answered.load() == requests ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
