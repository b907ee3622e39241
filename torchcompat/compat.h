// torchcompat/compat.h: lets gotch v0.7.0 build against a newer libtorch.
//
// gotch v0.7.0's C wrapper (libtch/torch_api_generated.cpp.h) was generated
// for libtorch 1.11 and calls torch::X(...) for ATen functions that were
// removed, renamed or re-signed in 1.12/1.13 (Debian ships 1.13.1). We do not
// edit gotch or the module cache; instead this header is force-included into
// every cgo C++ compile (CGO_CXXFLAGS="-include .../compat.h", see
// scripts/torch-env.sh and mk/torch.mk) and declares, in namespace torch:
//   - adapters for renamed functions (e.g. _cat -> at::cat),
//   - overloads with the old signatures for functions whose signature changed,
//   - exact-match overloads (non-const references) for calls that became
//     ambiguous,
//   - for functions that no longer exist, stubs that throw
//     std::runtime_error("X is not available in this libtorch"); gotch's
//     PROTECT macro turns that into a Go error.
// Everything is conditional on TORCH_VERSION >= 1.12, so with the libtorch
// gotch was generated for (1.11) this header adds nothing.
//
// Pitfall: declaring a name in namespace torch hides at::name (reached through
// `using namespace at`) from qualified calls torch::name(...), so every
// overloaded name also gets `using at::name;`.
#ifndef ALRL_TORCHCOMPAT_COMPAT_H
#define ALRL_TORCHCOMPAT_COMPAT_H

#include <torch/torch.h>
#include <torch/version.h>

#include <array>
#include <stdexcept>
#include <string>
#include <tuple>

#if defined(TORCH_VERSION_MAJOR) && defined(TORCH_VERSION_MINOR) && \
    (TORCH_VERSION_MAJOR > 1 || (TORCH_VERSION_MAJOR == 1 && TORCH_VERSION_MINOR >= 12))

namespace torch {
namespace alrl_compat {
[[noreturn]] inline void unavailable(const char* name) {
  throw std::runtime_error(std::string(name) + " is not available in this libtorch");
}
}  // namespace alrl_compat

// ---- Renamed: adapters to the current names. ----

inline at::Tensor _cat(at::TensorList tensors, int64_t dim = 0) {
  return at::cat(tensors, dim);
}
inline at::Tensor& _cat_out(at::Tensor& out, at::TensorList tensors, int64_t dim = 0) {
  return at::cat_out(out, tensors, dim);
}
inline at::Tensor _s_where(const at::Tensor& condition, const at::Tensor& self,
                           const at::Tensor& other) {
  return at::where(condition, self, other);
}
inline at::Tensor matrix_rank(const at::Tensor& self, bool symmetric = false) {
  // c10::optional<double>() picks the (atol, rtol) overload unambiguously.
  return at::linalg_matrix_rank(self, c10::optional<double>(), c10::optional<double>(),
                                symmetric);
}
inline at::Tensor matrix_rank(const at::Tensor& self, double tol, bool symmetric = false) {
  return at::linalg_matrix_rank(self, tol, symmetric);
}
// (det, LU, pivots), as _det_lu_based_helper returned.
inline std::tuple<at::Tensor, at::Tensor, at::Tensor> _det_lu_based_helper(
    const at::Tensor& self) {
  return at::_linalg_det(self);
}
inline std::tuple<at::Tensor, at::Tensor> _linalg_qr_helper(const at::Tensor& self,
                                                            c10::string_view mode) {
  return at::linalg_qr(self, mode);
}
inline std::tuple<at::Tensor, at::Tensor> _weight_norm_cuda_interface(const at::Tensor& v,
                                                                      const at::Tensor& g,
                                                                      int64_t dim = 0) {
  return at::_weight_norm_interface(v, g, dim);
}
inline std::tuple<at::Tensor, at::Tensor> _weight_norm_cuda_interface_backward(
    const at::Tensor& grad_w, const at::Tensor& saved_v, const at::Tensor& saved_g,
    const at::Tensor& saved_norms, int64_t dim) {
  return at::_weight_norm_interface_backward(grad_w, saved_v, saved_g, saved_norms, dim);
}
// col2im and im2col are each other's adjoint; the removed *_backward ops were
// implemented exactly this way.
inline at::Tensor col2im_backward(const at::Tensor& grad_output, at::IntArrayRef kernel_size,
                                  at::IntArrayRef dilation, at::IntArrayRef padding,
                                  at::IntArrayRef stride) {
  return at::im2col(grad_output, kernel_size, dilation, padding, stride);
}
inline at::Tensor& col2im_backward_out(at::Tensor& grad_input, const at::Tensor& grad_output,
                                       at::IntArrayRef kernel_size, at::IntArrayRef dilation,
                                       at::IntArrayRef padding, at::IntArrayRef stride) {
  return at::im2col_out(grad_input, grad_output, kernel_size, dilation, padding, stride);
}
inline at::Tensor im2col_backward(const at::Tensor& grad_output, at::IntArrayRef input_size,
                                  at::IntArrayRef kernel_size, at::IntArrayRef dilation,
                                  at::IntArrayRef padding, at::IntArrayRef stride) {
  return at::col2im(grad_output, input_size, kernel_size, dilation, padding, stride);
}
inline at::Tensor& im2col_backward_out(at::Tensor& grad_input, const at::Tensor& grad_output,
                                       at::IntArrayRef input_size, at::IntArrayRef kernel_size,
                                       at::IntArrayRef dilation, at::IntArrayRef padding,
                                       at::IntArrayRef stride) {
  return at::col2im_out(grad_input, grad_output, input_size, kernel_size, dilation, padding,
                        stride);
}
// l1_loss became a composite op without an out= variant.
inline at::Tensor& l1_loss_out(at::Tensor& out, const at::Tensor& self, const at::Tensor& target,
                               int64_t reduction = at::Reduction::Mean) {
  at::Tensor r = at::l1_loss(self, target, reduction);
  out.resize_(r.sizes());
  out.copy_(r);
  return out;
}

// ---- Changed signatures: overloads with the old ones. ----

using at::arange_out;
inline at::Tensor& arange_out(at::Tensor& out, const at::Scalar& start, const at::Scalar& end) {
  return at::arange_out(out, start, end, 1);
}

using at::grid_sampler_3d_backward;
inline std::tuple<at::Tensor, at::Tensor> grid_sampler_3d_backward(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& grid,
    int64_t interpolation_mode, int64_t padding_mode, bool align_corners) {
  return at::grid_sampler_3d_backward(grad_output, input, grid, interpolation_mode, padding_mode,
                                      align_corners, std::array<bool, 2>{{true, true}});
}

using at::nansum;
inline at::Tensor nansum(const at::Tensor& self, at::ScalarType dtype) {
  return at::nansum(self, at::OptionalIntArrayRef(c10::nullopt), false, dtype);
}

using at::segment_reduce;
inline at::Tensor segment_reduce(const at::Tensor& data, c10::string_view reduce,
                                 const c10::optional<at::Tensor>& lengths,
                                 const c10::optional<at::Tensor>& indices, int64_t axis,
                                 bool unsafe, const c10::optional<at::Scalar>& initial) {
  return at::segment_reduce(data, reduce, lengths, indices, c10::optional<at::Tensor>(), axis,
                            unsafe, initial);
}

using at::_segment_reduce_backward;
inline at::Tensor _segment_reduce_backward(const at::Tensor& grad, const at::Tensor& output,
                                           const at::Tensor& data, c10::string_view reduce,
                                           const c10::optional<at::Tensor>& lengths,
                                           int64_t axis) {
  return at::_segment_reduce_backward(grad, output, data, reduce, lengths,
                                      c10::optional<at::Tensor>(), axis);
}

// ---- Ambiguous calls: exact matches (non-const references win). ----

using at::bernoulli_out;
// bernoulli_out(out, self): draw with probabilities self (generator variant).
inline at::Tensor& bernoulli_out(at::Tensor& out, at::Tensor& self) {
  return at::bernoulli_out(out, static_cast<const at::Tensor&>(self),
                           c10::optional<at::Generator>());
}

using at::normal_out;
// normal_out(out, mean, std): tensor mean, scalar std.
inline at::Tensor& normal_out(at::Tensor& out, at::Tensor& mean, double std) {
  return at::normal_out(out, static_cast<const at::Tensor&>(mean), std,
                        c10::optional<at::Generator>());
}

// ---- Removed: stubs that throw. ----

inline at::Tensor _det_lu_based_helper_backward_helper(const at::Tensor&, const at::Tensor&,
                                                       const at::Tensor&, const at::Tensor&,
                                                       const at::Tensor&) {
  alrl_compat::unavailable("_det_lu_based_helper_backward_helper");
}
inline at::Tensor _linalg_inv_out_helper_(const at::Tensor&, const at::Tensor&,
                                          const at::Tensor&) {
  alrl_compat::unavailable("_linalg_inv_out_helper_");
}
inline std::tuple<at::Tensor, at::Tensor> _solve_helper(const at::Tensor&, const at::Tensor&) {
  alrl_compat::unavailable("_solve_helper");
}
inline at::Tensor binary_cross_entropy_with_logits_backward(const at::Tensor&, const at::Tensor&,
                                                            const at::Tensor&, const at::Tensor&,
                                                            const at::Tensor&, int64_t) {
  alrl_compat::unavailable("binary_cross_entropy_with_logits_backward");
}
inline std::tuple<at::Tensor, at::Tensor> eig(const at::Tensor&, bool) {
  alrl_compat::unavailable("eig");
}
inline std::tuple<at::Tensor, at::Tensor> eig_out(at::Tensor&, at::Tensor&, const at::Tensor&,
                                                  bool) {
  alrl_compat::unavailable("eig_out");
}
inline at::Tensor kl_div_backward(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                  int64_t, bool) {
  alrl_compat::unavailable("kl_div_backward");
}
inline at::Tensor l1_loss_backward(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                   int64_t) {
  alrl_compat::unavailable("l1_loss_backward");
}
inline at::Tensor l1_loss_backward_out(at::Tensor&, const at::Tensor&, const at::Tensor&,
                                       const at::Tensor&, int64_t) {
  alrl_compat::unavailable("l1_loss_backward_out");
}
inline std::tuple<at::Tensor, at::Tensor> lstsq(const at::Tensor&, const at::Tensor&) {
  alrl_compat::unavailable("lstsq");
}
inline std::tuple<at::Tensor, at::Tensor> lstsq_out(at::Tensor&, at::Tensor&, const at::Tensor&,
                                                    const at::Tensor&) {
  alrl_compat::unavailable("lstsq_out");
}
inline at::Tensor max_unpool2d_backward(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                        at::IntArrayRef) {
  alrl_compat::unavailable("max_unpool2d_backward");
}
inline at::Tensor max_unpool2d_backward_out(at::Tensor&, const at::Tensor&, const at::Tensor&,
                                            const at::Tensor&, at::IntArrayRef) {
  alrl_compat::unavailable("max_unpool2d_backward_out");
}
inline at::Tensor max_unpool3d_backward(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                        at::IntArrayRef, at::IntArrayRef, at::IntArrayRef) {
  alrl_compat::unavailable("max_unpool3d_backward");
}
inline at::Tensor max_unpool3d_backward_out(at::Tensor&, const at::Tensor&, const at::Tensor&,
                                            const at::Tensor&, at::IntArrayRef, at::IntArrayRef,
                                            at::IntArrayRef) {
  alrl_compat::unavailable("max_unpool3d_backward_out");
}
inline std::tuple<at::Tensor, at::Tensor> solve(const at::Tensor&, const at::Tensor&) {
  alrl_compat::unavailable("solve");
}
inline std::tuple<at::Tensor, at::Tensor> solve_out(at::Tensor&, at::Tensor&, const at::Tensor&,
                                                    const at::Tensor&) {
  alrl_compat::unavailable("solve_out");
}

}  // namespace torch

#endif  // TORCH_VERSION >= 1.12

#endif  // ALRL_TORCHCOMPAT_COMPAT_H
