// The sequential part of the lesson's RNN as two TensorFlow ops, one call per sequence.
//
// RnnChain:     s_t = f(xu_t + s_{t-1} W), t = 1..T  (xu_t = x_t U + b, projected outside)
// RnnChainGrad: the reverse loop of BPTT, dL/ds_t -> delta_t = dL/da_t, t = T..1
//
// Everything else in the layer (the projection x U + b, and dU, dW, db, dL/dx from the deltas)
// is a few large products that TensorFlow's MatMul runs well. The chain is T small products
// that wait for each other; as TensorFlow ops each step pays the executor's dispatch for a
// MatMul, an add and f (and more backwards), which costs as much as the product itself at
// 64 x 128 x 128. Here a step is one Eigen product in a C++ loop.
//
// A masked step keeps s_{t-1} (as keras.layers.RNN does); backwards its gradient passes
// straight through to s_{t-1} and its delta is zero.
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

#include <Eigen/Core>
#include <algorithm>
#include <functional>

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
using MatrixMap = Eigen::Map<Matrix<T>>;
template <typename T>
using ConstMatrixMap = Eigen::Map<const Matrix<T>>;

// The op's `activation` attr; the op definition admits only 'tanh' and 'relu'.
bool IsTanh(OpKernelConstruction* context) {
  std::string activation;
  const tensorflow::Status status = context->GetAttr("activation", &activation);
  if (!status.ok()) context->CtxFailure(__FILE__, __LINE__, status);
  return activation == "tanh";
}

// Checks the shapes shared by both ops and sets steps, batch, units.
tensorflow::Status CheckShapes(const Tensor& sequence, const Tensor& state, const Tensor& W,
                               const Tensor& mask, int64_t* steps, int64_t* batch, int64_t* units) {
  if (sequence.dims() != 3) {
    return InvalidArgument("sequence must be (T, B, m), got ", sequence.shape().DebugString());
  }
  *steps = sequence.dim_size(0), *batch = sequence.dim_size(1), *units = sequence.dim_size(2);
  if (state.shape() != TensorShape({*batch, *units})) {
    return InvalidArgument("state must be (B, m) = (", *batch, ", ", *units, "), got ",
                           state.shape().DebugString());
  }
  if (W.shape() != TensorShape({*units, *units})) {
    return InvalidArgument("W must be (m, m), got ", W.shape().DebugString());
  }
  if (mask.NumElements() != 0 && mask.shape() != TensorShape({*steps, *batch})) {
    return InvalidArgument("mask must be (T, B) or empty, got ", mask.shape().DebugString());
  }
  return tensorflow::OkStatus();
}

// Runs rows(first, last) over row blocks of the batch on the intra-op threads. A row of the
// batch is a chain of its own (s_t's row i needs only s_{t-1}'s row i), so each thread runs every
// step for its rows, with no synchronisation between steps.
void ForEachRowBlock(OpKernelContext* context, int64_t batch,
                     const std::function<void(int64_t, int64_t)>& rows) {
  auto* workers = context->device()->tensorflow_cpu_worker_threads()->workers;
  const int64_t threads = workers == nullptr ? 1 : workers->NumThreads();
  // Blocks of whole 8-row tiles (Eigen's product kernel), one per thread.
  const int64_t block = std::max<int64_t>(8, ((batch + threads - 1) / threads + 7) / 8 * 8);
  if (threads <= 1 || block >= batch) return rows(0, batch);
  workers->ParallelFor(batch, tsl::thread::ThreadPool::SchedulingParams::Fixed(block), rows);
}

template <typename T>
using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
template <typename T>
using ArrayMap = Eigen::Map<Array<T>>;
template <typename T>
using ConstArrayMap = Eigen::Map<const Array<T>>;

// What both ops share: f, from the `activation` attr.
class ChainKernel : public OpKernel {
 public:
  explicit ChainKernel(OpKernelConstruction* context) : OpKernel(context), tanh_(IsTanh(context)) {}

 protected:
  const bool tanh_;
};

template <typename T>
class RnnChainOp : public ChainKernel {
 public:
  using ChainKernel::ChainKernel;

  void Compute(OpKernelContext* context) override {
    const Tensor& xu = context->input(0);
    const Tensor& s0 = context->input(1);
    const Tensor& W = context->input(2);
    const Tensor& mask = context->input(3);
    int64_t steps, batch, units;
    OP_REQUIRES_OK(context, CheckShapes(xu, s0, W, mask, &steps, &batch, &units));
    Tensor* states = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, xu.shape(), &states));
    ForEachRowBlock(context, batch, [&](int64_t first, int64_t last) {
      Run(xu.flat<T>().data(), s0.flat<T>().data(), W.flat<T>().data(),
          mask.NumElements() ? mask.flat<bool>().data() : nullptr, states->flat<T>().data(),
          steps, batch, units, first, last);
    });
  }

 private:
  // The chain for rows first..last - 1 of every step.
  void Run(const T* xu, const T* s0, const T* W_data, const bool* mask, T* states, int64_t steps,
           int64_t batch, int64_t units, int64_t first, int64_t last) const {
    const ConstMatrixMap<T> W(W_data, units, units);
    const int64_t rows = last - first, size = rows * units, offset = first * units;
    const T* prev = s0 + offset;
    for (int64_t t = 0; t < steps; ++t) {
      T* out = states + t * batch * units + offset;
      MatrixMap<T>(out, rows, units).noalias() = ConstMatrixMap<T>(prev, rows, units) * W;
      ArrayMap<T> a(out, size);
      a += ConstArrayMap<T>(xu + t * batch * units + offset, size);
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
      prev = out;
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
    int64_t steps, batch, units;
    OP_REQUIRES_OK(context, CheckShapes(states, d_last, W, mask, &steps, &batch, &units));
    OP_REQUIRES(context, d_states.NumElements() == 0 || d_states.shape() == states.shape(),
                InvalidArgument("d_states must be (T, B, m) or empty, got ",
                                d_states.shape().DebugString()));
    Tensor* deltas = nullptr;
    Tensor* d_s0 = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, states.shape(), &deltas));
    OP_REQUIRES_OK(context, context->allocate_output(1, d_last.shape(), &d_s0));
    ForEachRowBlock(context, batch, [&](int64_t first, int64_t last) {
      Run(states.flat<T>().data(), W.flat<T>().data(),
          d_states.NumElements() ? d_states.flat<T>().data() : nullptr, d_last.flat<T>().data(),
          mask.NumElements() ? mask.flat<bool>().data() : nullptr, deltas->flat<T>().data(),
          d_s0->flat<T>().data(), steps, batch, units, first, last);
    });
  }

 private:
  // The reverse loop for rows first..last - 1: carry = dL/ds_t through the later steps.
  void Run(const T* states, const T* W_data, const T* d_states, const T* d_last, const bool* mask,
           T* deltas, T* d_s0, int64_t steps, int64_t batch, int64_t units, int64_t first,
           int64_t last) const {
    const ConstMatrixMap<T> W(W_data, units, units);
    const int64_t rows = last - first, size = rows * units, offset = first * units;
    ArrayMap<T> carry(d_s0 + offset, size);  // ends as dL/ds_0
    carry = ConstArrayMap<T>(d_last + offset, size);
    Matrix<T> through(rows, units);  // delta_t W^T
    for (int64_t t = steps - 1; t >= 0; --t) {
      const int64_t at = t * batch * units + offset;
      if (d_states != nullptr) carry += ConstArrayMap<T>(d_states + at, size);  // g = dL/ds_t
      const ConstArrayMap<T> s(states + at, size);
      ArrayMap<T> delta(deltas + at, size);
      if (tanh_) {
        delta = carry * (T(1) - s * s);
      } else {
        delta = (s > T(0)).select(carry, T(0));
      }
      if (mask != nullptr) {  // a kept step: no delta, and g passes straight to s_{t-1}
        for (int64_t row = 0; row < rows; ++row) {
          if (!mask[t * batch + first + row]) std::fill_n(deltas + at + row * units, units, T(0));
        }
      }
      through.noalias() = ConstMatrixMap<T>(deltas + at, rows, units) * W.transpose();
      if (mask == nullptr) {
        carry = ArrayMap<T>(through.data(), size);
        continue;
      }
      for (int64_t row = 0; row < rows; ++row) {
        if (mask[t * batch + first + row]) {
          std::copy_n(through.data() + row * units, units, carry.data() + row * units);
        }
      }
    }
  }
};

}  // namespace

REGISTER_OP("RnnChain")
    .Input("xu: T")
    .Input("s0: T")
    .Input("w: T")
    .Input("mask: bool")
    .Output("states: T")
    .Attr("T: {float, double}")
    .Attr("activation: {'tanh', 'relu'}")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(0));
      return tensorflow::OkStatus();
    })
    .Doc("s_t = f(xu_t + s_{t-1} w) for t = 1..T; a step whose mask is false keeps s_{t-1}.");

REGISTER_OP("RnnChainGrad")
    .Input("states: T")
    .Input("w: T")
    .Input("d_states: T")
    .Input("d_last: T")
    .Input("mask: bool")
    .Output("deltas: T")
    .Output("d_s0: T")
    .Attr("T: {float, double}")
    .Attr("activation: {'tanh', 'relu'}")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(0));
      c->set_output(1, c->input(3));
      return tensorflow::OkStatus();
    })
    .Doc("BPTT's reverse loop: deltas dL/da_t and dL/ds_0 from the states and dL/ds_t.");

#define REGISTER(T)                                                                      \
  REGISTER_KERNEL_BUILDER(Name("RnnChain").Device(DEVICE_CPU).TypeConstraint<T>("T"),     \
                          RnnChainOp<T>);                                                \
  REGISTER_KERNEL_BUILDER(Name("RnnChainGrad").Device(DEVICE_CPU).TypeConstraint<T>("T"), \
                          RnnChainGradOp<T>);
REGISTER(float)
REGISTER(double)
#undef REGISTER
