#pragma once
// Everything a C++ program needs to build, train, save, load and run a model.
#include "nncore/activations.hpp"
#include "nncore/check.hpp"
#include "nncore/initializers.hpp"
#include "nncore/layers/conv.hpp"
#include "nncore/layers/core.hpp"
#include "nncore/layers/layer.hpp"
#include "nncore/losses.hpp"
#include "nncore/model.hpp"
#include "nncore/ops.hpp"
#include "nncore/optimizers.hpp"
#include "nncore/runtime.hpp"
#include "nncore/tensor.hpp"
