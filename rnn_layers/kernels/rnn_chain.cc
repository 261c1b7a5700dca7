// The lesson's RNN layer in training as two TensorFlow ops, one call per batch.
//
// RnnChain:     s_0 and s_t = f(x_t U + b + s_{t-1} W), t = 1..T
// RnnChainGrad: the reverse loop of BPTT, dL/ds_t -> delta_t = dL/da_t for t = T..1, and the sums
//               dW = sum s_{t-1}^T delta_t, dU = sum x_t^T delta_t and db = sum delta_t
//
// The chain is T small products that wait for each other; as TensorFlow ops each step pays the
// executor's dispatch for a MatMul, an add and f (and more backwards), which costs as much as the
// product itself at 64 x 128 x 128. Here a step is a loop iteration in C++. A row of the batch is
// a chain of its own, so each thread takes a block of rows through every step, with no
// synchronisation between steps; the block's large products (x U + b before its chain, dW in
// chunks of steps during its reverse loop, dU after it) run on the same thread, in the same call.
// x, xu and the deltas are batch-major (B, T, .), so that the layer transposes nothing; dL/dx =
// Delta U^T is left to TensorFlow, which skips it when x needs no gradient.
//
// A masked step keeps s_{t-1} (as keras.layers.RNN does); backwards its gradient passes
// straight through to s_{t-1} and its delta is zero.
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace {

using tensorflow::DEVICE_CPU;
using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::TensorShape;
using tensorflow::errors::InvalidArgument;

template <typename T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using ConstMatrixMap = Eigen::Map<const Matrix<T>>;
using Strides = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;

// Sums of products run in slices of about this many terms: a slice of 64 columns of B (32 KB of floats)
// stays in L1 while every tile of rows reads it, and a sum that long keeps C's tiles in registers.
constexpr int64_t kSumSlice = 128;

// C = A B, or C += A B with `accumulate`. C is rows x cols with row stride ldc; A is rows x k with
// element (i, j) at A[i * a_row + j * a_col] (so A^T is the same memory with the strides swapped);
// B is k x cols with row stride ldb. With outer > 1 the product sums `outer` such pairs, the o-th
// at A + o * a_outer and B + o * b_outer: a sum over (o, j) that no single stride describes.
// B's columns 64c..64c + 63 start at B + c * b_panel (64: B in place; see RightOperand).
// Generic: Eigen's product, of operands in place (b_panel 64).
template <typename T>
void Gemm(bool accumulate, int64_t rows, int64_t cols, int64_t k, const T* A, int64_t a_row,
          int64_t a_col, const T* B, int64_t ldb, T* C, int64_t ldc, int64_t outer = 1,
          int64_t a_outer = 0, int64_t b_outer = 0, int64_t b_panel = 64) {
  Eigen::Map<Matrix<T>, 0, Strides> c(C, rows, cols, Strides(ldc, 1));
  for (int64_t o = 0; o < outer; ++o) {
    const Eigen::Map<const Matrix<T>, 0, Strides> a(A + o * a_outer, rows, k, Strides(a_row, a_col));
    const Eigen::Map<const Matrix<T>, 0, Strides> b(B + o * b_outer, k, cols, Strides(ldb, 1));
    if (accumulate || o > 0) {
      c.noalias() += a * b;
    } else {
      c.noalias() = a * b;
    }
  }
}

// The right operand B (k x cols) of many products, as Gemm reads it: row stride ldb, 64-column
// panels `panel` floats apart. B is `source`, or with `transposed` the transpose of the cols x k
// matrix `source`. Generic: B in place, or the transpose copied.
template <typename T>
struct RightOperand {
  RightOperand(const T* source, int64_t k, int64_t cols, bool transposed = false)
      : data(source), ldb(cols), panel(64) {
    if (!transposed) return;
    copy.resize(k * cols);
    Eigen::Map<Matrix<T>>(copy.data(), k, cols) = ConstMatrixMap<T>(source, cols, k).transpose();
    data = copy.data();
  }
  const T* data;
  int64_t ldb, panel;
  std::vector<T> copy;  // where data points when B is copied
};

#ifdef __AVX512F__
// float on AVX-512. A tile is R rows x 64 columns of C, held in 4R registers while k runs: each k
// loads 64 floats of B's row and broadcasts one element of A per row. At these sizes (k and cols
// 16-512) it beats a general GEMM, which packs both operands on every call; here only B is copied,
// W and U once per call (RightOperand), other operands when enough tiles read them.
//
// One pass of the tiles over 64 columns of C and a slice of the sum: outer_count x k terms, B's
// rows at B + o * b_outer + j * ldb (A's columns likewise).
struct Pass {
  const float* A;
  int64_t a_row, a_col, a_outer;
  const float* B;
  int64_t ldb, b_outer;
  float* C;
  int64_t ldc, k, outer_count;
  bool accumulate;
  __mmask16 keep[4];  // the columns of the 64 that exist
};

template <int R>
void GemmTile(const Pass& p, int64_t row) {
  const float* A = p.A + row * p.a_row;
  const float* B = p.B;
  float* C = p.C + row * p.ldc;
  // Fully unrolled, or gcc keeps the accumulators in memory.
  __m512 acc[R][4];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) {
      acc[r][v] = p.accumulate ? _mm512_maskz_loadu_ps(p.keep[v], C + r * p.ldc + 16 * v) : _mm512_setzero_ps();
    }
  }
  for (int64_t o = 0; o < p.outer_count; ++o, A += p.a_outer, B += p.b_outer) {
    for (int64_t j = 0; j < p.k; ++j) {
      const float* b = B + j * p.ldb;
      const __m512 b0 = _mm512_maskz_loadu_ps(p.keep[0], b), b1 = _mm512_maskz_loadu_ps(p.keep[1], b + 16);
      const __m512 b2 = _mm512_maskz_loadu_ps(p.keep[2], b + 32), b3 = _mm512_maskz_loadu_ps(p.keep[3], b + 48);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m512 a = _mm512_set1_ps(A[r * p.a_row + j * p.a_col]);
        acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
        acc[r][2] = _mm512_fmadd_ps(a, b2, acc[r][2]);
        acc[r][3] = _mm512_fmadd_ps(a, b3, acc[r][3]);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) _mm512_mask_storeu_ps(C + r * p.ldc + 16 * v, p.keep[v], acc[r][v]);
  }
}

template <>
void Gemm<float>(bool accumulate, int64_t rows, int64_t cols, int64_t k, const float* A,
                 int64_t a_row, int64_t a_col, const float* B, int64_t ldb, float* C, int64_t ldc,
                 int64_t outer, int64_t a_outer, int64_t b_outer, int64_t b_panel) {
  constexpr int kTile = 6;  // 24 accumulators + 4 of B + 1 of A: 29 of the 32 registers
  const int64_t k_step = std::min(k, kSumSlice);
  const int64_t outer_step = std::max<int64_t>(1, kSumSlice / std::max<int64_t>(k, 1));
  // B in place with a row stride other than 64 is copied slice by slice when enough tiles of rows
  // read each slice to pay for the copy.
  const bool copy_slices = ldb != 64 && rows >= 4 * kTile;
  thread_local std::vector<float> slice;
  if (copy_slices) slice.resize(kSumSlice * 64);
  Pass p{};
  p.a_row = a_row, p.a_col = a_col, p.a_outer = a_outer, p.ldc = ldc;
  for (int64_t column = 0; column < cols; column += 64) {
    for (int v = 0; v < 4; ++v) {
      const int64_t left = std::clamp<int64_t>(cols - column - 16 * v, 0, 16);
      p.keep[v] = __mmask16((1u << left) - 1);
    }
    p.C = C + column;
    p.accumulate = accumulate;
    for (int64_t o = 0; o < outer; o += outer_step) {
      for (int64_t j = 0; j < k || (j == 0 && k == 0); j += std::max<int64_t>(k_step, 1)) {
        p.A = A + o * a_outer + j * a_col, p.B = B + column / 64 * b_panel + o * b_outer + j * ldb;
        p.ldb = ldb, p.b_outer = b_outer;
        p.k = std::min(k_step, k - j), p.outer_count = std::min(outer_step, outer - o);
        if (copy_slices) {  // the slice's rows contiguous, 64 floats each (see RightOperand)
          for (int64_t slice_o = 0; slice_o < p.outer_count; ++slice_o) {
            for (int64_t slice_j = 0; slice_j < p.k; ++slice_j) {
              std::copy_n(p.B + slice_o * b_outer + slice_j * ldb, std::min<int64_t>(64, cols - column),
                          slice.data() + (slice_o * p.k + slice_j) * 64);
            }
          }
          p.B = slice.data(), p.ldb = 64, p.b_outer = 64 * p.k;
        }
        int64_t i = 0;
        for (; i + kTile <= rows; i += kTile) GemmTile<kTile>(p, i);
        switch (rows - i) {  // the last rows, fewer than a tile
          case 5: GemmTile<5>(p, i); break;
          case 4: GemmTile<4>(p, i); break;
          case 3: GemmTile<3>(p, i); break;
          case 2: GemmTile<2>(p, i); break;
          case 1: GemmTile<1>(p, i); break;
          default: break;
        }
        p.accumulate = true;
      }
    }
  }
}

// float on AVX-512: B copied panel by panel, each 64 columns wide (zero beyond cols) and k rows
// contiguous. In place, with a row stride of a power of two (512 or 2048 bytes at 128 or 512 units)
// the rows of a panel fall into a few sets of the L1 cache and evict each other while the tiles
// reread them. A transpose is packed straight from `source`, each of its rows read once.
template <>
RightOperand<float>::RightOperand(const float* source, int64_t k, int64_t cols, bool transposed)
    : ldb(64), panel(64 * k), copy((cols + 63) / 64 * 64 * k, 0.0f) {
  for (int64_t column = 0; column < cols; column += 64) {
    const int64_t width = std::min<int64_t>(64, cols - column);
    float* panel_start = copy.data() + column * k;
    if (transposed) {
      for (int64_t c = 0; c < width; ++c) {
        const float* row = source + (column + c) * k;  // source's row column + c: that column of B
        for (int64_t j = 0; j < k; ++j) panel_start[j * 64 + c] = row[j];
      }
    } else {
      for (int64_t j = 0; j < k; ++j) std::copy_n(source + j * cols + column, width, panel_start + j * 64);
    }
  }
  data = copy.data();
}
#endif


// The op's `activation` attr; the op definition admits only 'tanh' and 'relu'.
bool IsTanh(OpKernelConstruction* context) {
  std::string activation;
  const tensorflow::Status status = context->GetAttr("activation", &activation);
  if (!status.ok()) context->CtxFailure(__FILE__, __LINE__, status);
  return activation == "tanh";
}

// The sizes both ops check their inputs against: (B, T, n) of x, and m.
struct Sizes {
  int64_t batch, steps, inputs, units;
};

// x must be (B, T, n) and W (m, m); sets every size from them.
tensorflow::Status CheckInputAndW(const Tensor& x, const Tensor& W, Sizes* sizes) {
  if (x.dims() != 3) return InvalidArgument("x must be (B, T, n), got ", x.shape().DebugString());
  if (W.dims() != 2 || W.dim_size(0) != W.dim_size(1)) {
    return InvalidArgument("W must be (m, m), got ", W.shape().DebugString());
  }
  *sizes = {x.dim_size(0), x.dim_size(1), x.dim_size(2), W.dim_size(0)};
  return tensorflow::OkStatus();
}

// The shapes that both ops share, against the sizes from x and W.
tensorflow::Status CheckShapes(const Sizes& sizes, const Tensor& state, const Tensor& mask) {
  if (state.shape() != TensorShape({sizes.batch, sizes.units})) {
    return InvalidArgument("state must be (B, m) = (", sizes.batch, ", ", sizes.units, "), got ",
                           state.shape().DebugString());
  }
  if (mask.NumElements() != 0 && mask.shape() != TensorShape({sizes.steps, sizes.batch})) {
    return InvalidArgument("mask must be (T, B) or empty, got ", mask.shape().DebugString());
  }
  return tensorflow::OkStatus();
}

// The batch's rows in blocks of a multiple of 8 rows, about two blocks per intra-op thread. A row of
// the batch is a chain of its own (s_t's row i needs only s_{t-1}'s row i), so a thread runs every
// step for the rows of a block, with no synchronisation between steps.
int64_t RowBlock(OpKernelContext* context, int64_t batch) {
  auto* workers = context->device()->tensorflow_cpu_worker_threads()->workers;
  const int64_t threads = workers == nullptr ? 1 : workers->NumThreads();
  if (threads <= 1) return std::max<int64_t>(batch, 1);
  return std::max<int64_t>(8, ((batch + 2 * threads - 1) / (2 * threads) + 7) / 8 * 8);
}

// The blocks still to run, shared with the helper tasks; on the heap, as a helper may start after
// the op has returned (it then finds no block left and touches nothing else).
struct Blocks {
  explicit Blocks(int64_t count) : count(count) {}
  const int64_t count;
  std::atomic<int64_t> next{0}, done{0};
  const std::function<void(int64_t)>* run = nullptr;  // valid while done < count
  std::mutex mutex;
  std::condition_variable all_done;

  void RunUntilNoneLeft() {
    for (int64_t block; (block = next.fetch_add(1)) < count;) {
      (*run)(block);
      if (done.fetch_add(1, std::memory_order_acq_rel) + 1 == count) {
        std::lock_guard<std::mutex> lock(mutex);
        all_done.notify_all();
      }
    }
  }

  // Spins for a while first: the last block usually ends within it, and a wake-up from sleep costs
  // 0.1-0.2 ms here. Then sleeps, so that a thread it waits for can have the core.
  void WaitForAll() {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
    while (done.load(std::memory_order_acquire) < count && std::chrono::steady_clock::now() < until) {
      std::this_thread::yield();
    }
    std::unique_lock<std::mutex> lock(mutex);
    all_done.wait(lock, [this] { return done.load(std::memory_order_acquire) == count; });
  }
};

// Runs rows(index, first, last) for the row blocks [index * block, (index + 1) * block). The calling
// thread starts at once and helper tasks join as they start, each taking the next block left; then the
// caller waits for the blocks still running. The helpers go to the executor's inter-op pool when it has
// threads to spare (`inter_op`): in a train step its other thread has just run the small ops beside this
// one (the head's gradient, Adam) and is still awake, so it starts at once, where an intra-op thread
// would wake late and compete with it for the cores (docs/speed.md item 5: at the headline the step took
// 1.4 instead of 1.7 ms in one stretch of session 30, the same in a later one).
void ForEachRowBlock(OpKernelContext* context, bool inter_op, int64_t batch, int64_t block,
                     const std::function<void(int64_t, int64_t, int64_t)>& rows) {
  const int64_t count = (batch + block - 1) / block;
  if (count <= 1) return rows(0, 0, batch);
  const std::function<void(int64_t)> run = [&](int64_t index) {
    rows(index, index * block, std::min(batch, (index + 1) * block));
  };
  auto blocks = std::make_shared<Blocks>(count);
  blocks->run = &run;
  auto* workers = context->device()->tensorflow_cpu_worker_threads()->workers;
  auto* runner = context->runner();
  const bool on_inter_op = inter_op && runner != nullptr && *runner;
  const std::thread::id caller = std::this_thread::get_id();
  const std::function<void()> help = [blocks] { blocks->RunUntilNoneLeft(); };
  for (int64_t helper = 1; helper < std::min<int64_t>(workers->NumThreads(), count); ++helper) {
    if (!on_inter_op) {
      workers->Schedule(help);
    } else {
      (*runner)([help, caller, workers] {
        // An inline runner (an eager op's) runs this on the caller: no thread to spare, so the intra-op pool.
        if (std::this_thread::get_id() == caller) {
          workers->Schedule(help);
        } else {
          help();
        }
      });
    }
  }
  blocks->RunUntilNoneLeft();
  blocks->WaitForAll();
}

template <typename T>
using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
template <typename T>
using ArrayMap = Eigen::Map<Array<T>>;
template <typename T>
using ConstArrayMap = Eigen::Map<const Array<T>>;

template <typename T>
const T* DataOrNull(const Tensor& tensor) {
  return tensor.NumElements() == 0 ? nullptr : tensor.flat<T>().data();
}

// What both ops share: f, from the `activation` attr, and where helpers come from (`inter_op_helpers`).
class ChainKernel : public OpKernel {
 public:
  explicit ChainKernel(OpKernelConstruction* context) : OpKernel(context), tanh_(IsTanh(context)) {
    OP_REQUIRES_OK(context, context->GetAttr("inter_op_helpers", &inter_op_helpers_));
  }

 protected:
  const bool tanh_;
  bool inter_op_helpers_ = false;  // ForEachRowBlock's `inter_op`
};

template <typename T>
class RnnChainOp : public ChainKernel {
 public:
  using ChainKernel::ChainKernel;

  void Compute(OpKernelContext* context) override {
    const Tensor& x = context->input(0);
    const Tensor& U = context->input(1);
    const Tensor& b = context->input(2);
    const Tensor& s0 = context->input(3);
    const Tensor& W = context->input(4);
    const Tensor& mask = context->input(5);
    Sizes sizes;
    OP_REQUIRES_OK(context, CheckInputAndW(x, W, &sizes));
    OP_REQUIRES(context, U.shape() == TensorShape({sizes.inputs, sizes.units}),
                InvalidArgument("U must be (n, m) = (", sizes.inputs, ", ", sizes.units, "), got ",
                                U.shape().DebugString()));
    OP_REQUIRES(context, b.NumElements() == 0 || b.shape() == TensorShape({sizes.units}),
                InvalidArgument("b must be (m,) = (", sizes.units, ",) or empty, got ",
                                b.shape().DebugString()));
    OP_REQUIRES_OK(context, CheckShapes(sizes, s0, mask));
    Tensor* states = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, {sizes.steps + 1, sizes.batch, sizes.units}, &states));
    Tensor xu;  // x U + b, (B, T, m)
    OP_REQUIRES_OK(context, context->allocate_temp(tensorflow::DataTypeToEnum<T>::value,
                                                   {sizes.batch, sizes.steps, sizes.units}, &xu));
    std::copy_n(s0.flat<T>().data(), sizes.batch * sizes.units, states->flat<T>().data());
    const RightOperand<T> U_operand(U.flat<T>().data(), sizes.inputs, sizes.units);
    const RightOperand<T> W_operand(W.flat<T>().data(), sizes.units, sizes.units);
    const int64_t block = RowBlock(context, sizes.batch);
    ForEachRowBlock(context, inter_op_helpers_, sizes.batch, block, [&](int64_t, int64_t first, int64_t last) {
      Project(x.flat<T>().data(), U_operand, DataOrNull<T>(b), xu.flat<T>().data(), sizes, first, last);
      Run(xu.flat<T>().data(), W_operand, DataOrNull<bool>(mask), states->flat<T>().data(), sizes, first, last);
    });
  }

 private:
  // xu = x U + b for rows first..last - 1, every step: one product, as x's rows (b, t) are adjacent.
  static void Project(const T* x, const RightOperand<T>& U, const T* b, T* xu, const Sizes& sizes,
                      int64_t first, int64_t last) {
    const int64_t count = (last - first) * sizes.steps, n = sizes.inputs, m = sizes.units;
    T* out = xu + first * sizes.steps * m;
    Gemm<T>(false, count, m, n, x + first * sizes.steps * n, n, 1, U.data, U.ldb, out, m, 1, 0, 0, U.panel);
    if (b != nullptr) {
      Eigen::Map<Matrix<T>>(out, count, m).rowwise() += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(b, m);
    }
  }

  // The chain for rows first..last - 1 of every step; states[0] holds s_0, xu is (B, T, m).
  void Run(const T* xu, const RightOperand<T>& W, const bool* mask, T* states, const Sizes& sizes,
           int64_t first, int64_t last) const {
    const int64_t batch = sizes.batch, steps = sizes.steps, units = sizes.units;
    const int64_t rows = last - first, size = rows * units, offset = first * units;
    for (int64_t t = 0; t < steps; ++t) {
      const T* prev = states + t * batch * units + offset;
      T* out = states + (t + 1) * batch * units + offset;
      Gemm<T>(false, rows, units, units, prev, units, 1, W.data, W.ldb, out, units, 1, 0, 0, W.panel);
      for (int64_t row = 0; row < rows; ++row) {  // xu is batch-major: row (b, t) at b * T + t
        ArrayMap<T>(out + row * units, units) +=
            ConstArrayMap<T>(xu + ((first + row) * steps + t) * units, units);
      }
      ArrayMap<T> a(out, size);
      if (tanh_) {
        a = a.tanh();
      } else {
        a = a.max(T(0));
      }
      if (mask != nullptr) {
        for (int64_t row = 0; row < rows; ++row) {
          if (!mask[t * batch + first + row]) std::copy_n(prev + row * units, units, out + row * units);
        }
      }
    }
  }
};

template <typename T>
class RnnChainGradOp : public ChainKernel {
 public:
  using ChainKernel::ChainKernel;

  void Compute(OpKernelContext* context) override {
    const Tensor& states = context->input(0);
    const Tensor& W = context->input(1);
    const Tensor& d_states = context->input(2);
    const Tensor& d_last = context->input(3);
    const Tensor& mask = context->input(4);
    const Tensor& x = context->input(5);
    Sizes sizes;
    OP_REQUIRES_OK(context, CheckInputAndW(x, W, &sizes));
    const int64_t batch = sizes.batch, steps = sizes.steps, units = sizes.units, inputs = sizes.inputs;
    OP_REQUIRES(context, states.shape() == TensorShape({steps + 1, batch, units}),
                InvalidArgument("states must be (T + 1, B, m) = (", steps + 1, ", ", batch, ", ", units,
                                "), got ", states.shape().DebugString()));
    OP_REQUIRES_OK(context, CheckShapes(sizes, d_last, mask));
    OP_REQUIRES(context, d_states.NumElements() == 0 || d_states.shape() == TensorShape({steps, batch, units}),
                InvalidArgument("d_states must be (T, B, m) or empty, got ",
                                d_states.shape().DebugString()));
    Tensor *deltas, *d_s0, *db, *dW, *dU;
    OP_REQUIRES_OK(context, context->allocate_output(0, {batch, steps, units}, &deltas));
    OP_REQUIRES_OK(context, context->allocate_output(1, d_last.shape(), &d_s0));
    OP_REQUIRES_OK(context, context->allocate_output(2, {units}, &db));
    OP_REQUIRES_OK(context, context->allocate_output(3, W.shape(), &dW));
    OP_REQUIRES_OK(context, context->allocate_output(4, {inputs, units}, &dU));
    const RightOperand<T> Wt(W.flat<T>().data(), units, units, /*transposed=*/true);
    const int64_t block = RowBlock(context, batch), blocks = std::max<int64_t>((batch + block - 1) / block, 1);
    // Each block's sums (db: row 0, dW: rows 1..m, dU: rows m + 1..m + n), added up after the loop.
    std::vector<Matrix<T>> sums(blocks, Matrix<T>::Zero(1 + units + inputs, units));
    ForEachRowBlock(context, inter_op_helpers_, batch, block, [&](int64_t index, int64_t first, int64_t last) {
      T* sum = sums[index].data();
      Run(states.flat<T>().data(), Wt, DataOrNull<T>(d_states), d_last.flat<T>().data(),
          DataOrNull<bool>(mask), deltas->flat<T>().data(), d_s0->flat<T>().data(), sum, steps, batch,
          units, first, last);
      // dU = sum x_t^T delta_t over the block's rows: x's and the deltas' rows (b, t) are adjacent.
      const int64_t count = (last - first) * steps;
      Gemm<T>(false, inputs, units, count, x.flat<T>().data() + first * steps * inputs, 1, inputs,
              deltas->flat<T>().data() + first * steps * units, units, sum + (1 + units) * units, units);
    });
    for (int64_t index = 1; index < blocks; ++index) sums[0] += sums[index];
    const T* total = sums[0].data();
    std::copy_n(total, units, db->flat<T>().data());
    std::copy_n(total + units, units * units, dW->flat<T>().data());
    std::copy_n(total + (1 + units) * units, inputs * units, dU->flat<T>().data());
  }

 private:
  // The reverse loop for rows first..last - 1: carry = dL/ds_t through the later steps. The deltas
  // are written batch-major, row (b, t) at b * T + t, as the products after the op want them.
  void Run(const T* states, const RightOperand<T>& Wt, const T* d_states, const T* d_last, const bool* mask,
           T* deltas, T* d_s0, T* sums, int64_t steps, int64_t batch, int64_t units,
           int64_t first, int64_t last) const {
    const int64_t rows = last - first, size = rows * units, offset = first * units;
    const int64_t delta_row = steps * units;  // between one row's delta and the next's
    ArrayMap<T> carry(d_s0 + offset, size);  // ends as dL/ds_0
    carry = ConstArrayMap<T>(d_last + offset, size);
    ArrayMap<T> db(sums, units);
    T* dW = sums + units;
    Matrix<T> through(rows, units);  // delta_t W^T
    // dW = sum over the block's rows b and steps t of s_{t-1}^T delta_t, summed every `chunk` steps:
    // a product whose sum runs over chunk x rows (about kSumSlice) terms keeps dW's tiles in registers for
    // that long (step by step they would be read and written T times, with only `rows` terms each
    // time), while the chunk's states and deltas are still in cache (after the loop, at T 100 and
    // batch 256 they would come from L3). s_{t-1}'s rows are read as columns.
    const int64_t chunk = std::max<int64_t>(1, (kSumSlice + rows - 1) / rows);
    int64_t newest = steps - 1;  // the last step whose share of dW is not summed yet
    for (int64_t t = steps - 1; t >= 0; --t) {
      const int64_t at = t * batch * units + offset;
      if (d_states != nullptr) carry += ConstArrayMap<T>(d_states + at, size);  // g = dL/ds_t
      T* delta_t = deltas + (first * steps + t) * units;
      for (int64_t row = 0; row < rows; ++row) {
        ArrayMap<T> delta(delta_t + row * delta_row, units);
        const ConstArrayMap<T> g(carry.data() + row * units, units);
        const ConstArrayMap<T> s(states + at + batch * units + row * units, units);  // s_t
        if (mask != nullptr && !mask[t * batch + first + row]) {
          delta.setZero();  // a kept step: no delta, and g passes straight to s_{t-1}
        } else if (tanh_) {
          delta = g * (T(1) - s * s);
        } else {
          delta = (s > T(0)).select(g, T(0));
        }
        db += delta;
      }
      if (newest - t + 1 == chunk || t == 0) {
        Gemm<T>(true, units, units, newest - t + 1, states + at, 1, batch * units, delta_t, units, dW, units, rows,
                units, delta_row);
        newest = t - 1;
      }
      Gemm<T>(false, rows, units, units, delta_t, delta_row, 1, Wt.data, Wt.ldb, through.data(), units, 1, 0, 0,
              Wt.panel);
      for (int64_t row = 0; row < rows; ++row) {
        if (mask == nullptr || mask[t * batch + first + row]) {
          std::copy_n(through.data() + row * units, units, carry.data() + row * units);
        }
      }
    }
  }
};

}  // namespace

REGISTER_OP("RnnChain")
    .Input("x: T")
    .Input("u: T")
    .Input("b: T")
    .Input("s0: T")
    .Input("w: T")
    .Input("mask: bool")
    .Output("states: T")
    .Attr("T: {float, double}")
    .Attr("activation: {'tanh', 'relu'}")
    .Attr("inter_op_helpers: bool = false")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      tensorflow::shape_inference::DimensionHandle steps;
      TF_RETURN_IF_ERROR(c->Add(c->Dim(c->input(0), 1), 1, &steps));  // x (B, T, n) -> (T + 1, B, m)
      c->set_output(0, c->MakeShape({steps, c->Dim(c->input(0), 0), c->Dim(c->input(4), 0)}));
      return tensorflow::OkStatus();
    })
    .Doc("s_0 and s_t = f(x_t u + b + s_{t-1} w) for t = 1..T, (T + 1, B, m), x (B, T, n); b may be "
         "empty; a step whose mask is false keeps s_{t-1}.");

REGISTER_OP("RnnChainGrad")
    .Input("states: T")
    .Input("w: T")
    .Input("d_states: T")
    .Input("d_last: T")
    .Input("mask: bool")
    .Input("x: T")
    .Output("deltas: T")
    .Output("d_s0: T")
    .Output("db: T")
    .Output("dw: T")
    .Output("du: T")
    .Attr("T: {float, double}")
    .Attr("activation: {'tanh', 'relu'}")
    .Attr("inter_op_helpers: bool = false")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      tensorflow::shape_inference::DimensionHandle steps;
      TF_RETURN_IF_ERROR(c->Subtract(c->Dim(c->input(0), 0), 1, &steps));  // (T + 1, B, m) -> (B, T, m)
      c->set_output(0, c->MakeShape({c->Dim(c->input(0), 1), steps, c->Dim(c->input(0), 2)}));
      c->set_output(1, c->input(3));
      c->set_output(2, c->Vector(c->Dim(c->input(1), 0)));
      c->set_output(3, c->input(1));
      c->set_output(4, c->Matrix(c->Dim(c->input(5), 2), c->Dim(c->input(1), 0)));
      return tensorflow::OkStatus();
    })
    .Doc("BPTT's reverse loop: the deltas dL/da_t (B, T, m), dL/ds_0, dL/db, dL/dw and dL/du, from "
         "the states s_0..s_T, dL/ds_t and x.");

#define REGISTER(T)                                                                      \
  REGISTER_KERNEL_BUILDER(Name("RnnChain").Device(DEVICE_CPU).TypeConstraint<T>("T"),     \
                          RnnChainOp<T>);                                                \
  REGISTER_KERNEL_BUILDER(Name("RnnChainGrad").Device(DEVICE_CPU).TypeConstraint<T>("T"), \
                          RnnChainGradOp<T>);
REGISTER(float)
REGISTER(double)
#undef REGISTER
