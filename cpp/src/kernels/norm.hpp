#pragma once
// Normalization kernels (batch and layer normalization). x is (R, C): every axis but the last flattened into R.
// Reductions sum fixed chunks of rows in float and the chunks in double, in a fixed order, so results never
// depend on the thread count. Backward accumulates (+=) into dgamma/dbeta; dx is overwritten; any gradient may be
// null (not needed). The batch-norm functions pick the fast AVX2/AVX-512 path when active (bit-identical between
// the two), else their `_ref` twin, which is also the test oracle; the two agree to float rounding.
#include <cstdint>

namespace nncore::kernels {

// ---- batch normalization: statistics per channel c over the R rows --------------------------------------------
// mean[c] = sum_r x[r,c] / R; var[c] = sum_r (x[r,c] - mean[c])^2 / R (biased); rstd[c] = 1/sqrt(var[c] + eps).
void batchnorm_stats(float* mean, float* var, float* rstd, const float* x, int64_t R, int64_t C, float eps);
// moving = moving * momentum + batch * (1 - momentum), for the mean and the variance.
void batchnorm_update_moving(float* moving_mean, float* moving_var, const float* mean, const float* var, int64_t C,
                             float momentum);
// rstd[c] = 1/sqrt(var[c] + eps) (inference: from the moving variance).
void batchnorm_rstd(float* rstd, const float* var, int64_t C, float eps);
// y[r,c] = (x[r,c] - mean[c]) * rstd[c] * gamma[c] + beta[c].
void batchnorm_forward(float* y, const float* x, const float* mean, const float* rstd, const float* gamma,
                       const float* beta, int64_t R, int64_t C);
// Backward of y = xhat * gamma + beta, xhat = (x - mean) * rstd. batch_stats: mean and rstd came from this batch
// (training), so dx = gamma*rstd * (dy - mean_r(dy) - xhat * mean_r(dy*xhat)); else they are constants and
// dx = dy * gamma * rstd. dgamma += sum_r dy*xhat, dbeta += sum_r dy. ws: 2*C floats.
void batchnorm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                        const float* rstd, const float* gamma, int64_t R, int64_t C, bool batch_stats, float* ws);
void batchnorm_stats_ref(float* mean, float* var, float* rstd, const float* x, int64_t R, int64_t C, float eps);
void batchnorm_forward_ref(float* y, const float* x, const float* mean, const float* rstd, const float* gamma,
                           const float* beta, int64_t R, int64_t C);
void batchnorm_backward_ref(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                            const float* mean, const float* rstd, const float* gamma, int64_t R, int64_t C,
                            bool batch_stats, float* ws);

// ---- layer normalization: statistics per row r over the C columns ---------------------------------------------
// mean[r], rstd[r] = 1/sqrt(var[r] + eps) saved for backward; y[r,c] = (x[r,c] - mean[r]) * rstd[r] * gamma[c] + beta[c].
void layernorm_forward(float* y, float* mean, float* rstd, const float* x, const float* gamma, const float* beta,
                       int64_t R, int64_t C, float eps);
// dxhat = dy * gamma; dx = rstd * (dxhat - mean_c(dxhat) - xhat * mean_c(dxhat * xhat));
// dgamma += sum_r dy*xhat, dbeta += sum_r dy.
void layernorm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                        const float* rstd, const float* gamma, int64_t R, int64_t C);

}  // namespace nncore::kernels
