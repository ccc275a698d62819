#include <optional>

#include "convert.hpp"

namespace nncore::bindings {

namespace {

RecurrentOptions options(bool use_bias, const Initializer& ki, const Initializer& ri, const Initializer& bi,
                         float dropout, float recurrent_dropout, bool return_sequences, bool return_state,
                         bool go_backwards) {
  RecurrentOptions o;
  o.use_bias = use_bias;
  o.kernel_initializer = ki;
  o.recurrent_initializer = ri;
  o.bias_initializer = bi;
  o.dropout = dropout;
  o.recurrent_dropout = recurrent_dropout;
  o.return_sequences = return_sequences;
  o.return_state = return_state;
  o.go_backwards = go_backwards;
  return o;
}

std::vector<Tensor> views(std::vector<FloatArray>& arrays) {
  std::vector<Tensor> out;
  for (FloatArray& a : arrays) out.push_back(view_of(a));
  return out;
}

// The optional array arguments of the ops: None -> an empty tensor.
Tensor optional_view(py::object a, std::vector<FloatArray>& keep) {
  if (a.is_none()) return Tensor();
  keep.push_back(a.cast<FloatArray>());
  return view_of(keep.back());
}

// Binds forward_masked, backward_with_states and the states of a layer class L (Recurrent or Bidirectional).
template <typename L, typename C>
void bind_sequence_api(C& cls) {
  cls.def(
         "forward_masked",
         [](L& l, FloatArray x, std::optional<FloatArray> mask, bool training) {
           // None: no mask, not even a stale one from the last model forward.
           Tensor owned = view_of(x).clone(), out;
           Tensor m = mask ? view_of(*mask) : Tensor();
           {
             py::gil_scoped_release nogil;
             out = l.forward(owned, mask ? &m : nullptr, training).clone();
           }
           return to_numpy(out);
         },
         py::arg("x"), py::arg("mask"), py::arg("training") = false)
      .def(
          "backward_with_states",
          [](L& l, FloatArray dy, std::vector<FloatArray> dstates, bool need_dx) {
            Tensor tdy = view_of(dy), dx;
            std::vector<Tensor> ds = views(dstates);
            {
              py::gil_scoped_release nogil;
              dx = l.backward_with_states(tdy, ds, need_dx).clone();
            }
            return to_numpy(dx);
          },
          py::arg("dy"), py::arg("dstates"), py::arg("need_dx") = true)
      .def_property_readonly("num_states", &L::num_states)
      .def_property_readonly("states", [](L& l) {
        py::list out;
        for (int i = 0; i < l.num_states(); ++i) out.append(to_numpy(l.state(i).clone()));
        return out;
      });
}

}  // namespace

void bind_recurrent(py::module_& m) {
  py::class_<Recurrent, Layer, std::shared_ptr<Recurrent>> rec(m, "Recurrent");
  bind_sequence_api<Recurrent>(rec);
  rec.def_property_readonly("units", &Recurrent::units)
      .def_property_readonly("use_bias", [](const Recurrent& l) { return l.options().use_bias; })
      .def_property_readonly("dropout", [](const Recurrent& l) { return l.options().dropout; })
      .def_property_readonly("recurrent_dropout", [](const Recurrent& l) { return l.options().recurrent_dropout; })
      .def_property_readonly("return_sequences", [](const Recurrent& l) { return l.options().return_sequences; })
      .def_property_readonly("return_state", [](const Recurrent& l) { return l.options().return_state; })
      .def_property_readonly("go_backwards", [](const Recurrent& l) { return l.options().go_backwards; })
      .def_property("zero_output_for_mask", &Recurrent::zero_output_for_mask, &Recurrent::set_zero_output_for_mask)
      .def_property_readonly("state_gradients", [](Recurrent& l) {
        py::list out;
        for (int i = 0; i < l.num_states(); ++i) out.append(to_numpy(l.state_gradient(i).clone()));
        return out;
      });

  py::class_<SimpleRNN, Recurrent, std::shared_ptr<SimpleRNN>>(m, "SimpleRNN")
      .def(py::init([](int64_t units, const std::string& act, bool use_bias, const Initializer& ki,
                       const Initializer& ri, const Initializer& bi, float dropout, float rdropout, bool rs, bool rst,
                       bool gb, const std::string& name) {
             return std::make_shared<SimpleRNN>(units, act, options(use_bias, ki, ri, bi, dropout, rdropout, rs, rst, gb),
                                                name);
           }),
           py::arg("units"), py::arg("activation") = "tanh", py::arg("use_bias") = true,
           py::arg("kernel_initializer") = "glorot_uniform", py::arg("recurrent_initializer") = "orthogonal",
           py::arg("bias_initializer") = "zeros", py::arg("dropout") = 0.f, py::arg("recurrent_dropout") = 0.f,
           py::arg("return_sequences") = false, py::arg("return_state") = false, py::arg("go_backwards") = false,
           py::arg("name") = "")
      .def_property_readonly("activation", &SimpleRNN::activation);
  py::class_<LSTM, Recurrent, std::shared_ptr<LSTM>>(m, "LSTM")
      .def(py::init([](int64_t units, bool use_bias, const Initializer& ki, const Initializer& ri,
                       const Initializer& bi, bool unit_forget_bias, float dropout, float rdropout, bool rs, bool rst,
                       bool gb, const std::string& name) {
             return std::make_shared<LSTM>(units, options(use_bias, ki, ri, bi, dropout, rdropout, rs, rst, gb),
                                           unit_forget_bias, name);
           }),
           py::arg("units"), py::arg("use_bias") = true, py::arg("kernel_initializer") = "glorot_uniform",
           py::arg("recurrent_initializer") = "orthogonal", py::arg("bias_initializer") = "zeros",
           py::arg("unit_forget_bias") = true, py::arg("dropout") = 0.f, py::arg("recurrent_dropout") = 0.f,
           py::arg("return_sequences") = false, py::arg("return_state") = false, py::arg("go_backwards") = false,
           py::arg("name") = "")
      .def_property_readonly("unit_forget_bias", &LSTM::unit_forget_bias);
  py::class_<GRU, Recurrent, std::shared_ptr<GRU>>(m, "GRU")
      .def(py::init([](int64_t units, bool use_bias, const Initializer& ki, const Initializer& ri,
                       const Initializer& bi, bool reset_after, float dropout, float rdropout, bool rs, bool rst,
                       bool gb, const std::string& name) {
             return std::make_shared<GRU>(units, options(use_bias, ki, ri, bi, dropout, rdropout, rs, rst, gb),
                                          reset_after, name);
           }),
           py::arg("units"), py::arg("use_bias") = true, py::arg("kernel_initializer") = "glorot_uniform",
           py::arg("recurrent_initializer") = "orthogonal", py::arg("bias_initializer") = "zeros",
           py::arg("reset_after") = true, py::arg("dropout") = 0.f, py::arg("recurrent_dropout") = 0.f,
           py::arg("return_sequences") = false, py::arg("return_state") = false, py::arg("go_backwards") = false,
           py::arg("name") = "")
      .def_property_readonly("reset_after", &GRU::reset_after);

  py::class_<Bidirectional, Layer, std::shared_ptr<Bidirectional>> bi(m, "Bidirectional");
  bind_sequence_api<Bidirectional>(bi);
  bi.def(py::init<std::shared_ptr<Recurrent>, const std::string&, const std::string&>(), py::arg("layer"),
         py::arg("merge_mode") = "concat", py::arg("name") = "")
      .def_property_readonly("merge_mode", &Bidirectional::merge_mode)
      .def_property_readonly("forward_layer", &Bidirectional::forward_layer)
      .def_property_readonly("backward_layer", &Bidirectional::backward_layer);

  // ---- functional forms --------------------------------------------------------------------------------------
  m.def(
      "rnn",
      [](const std::string& cell, const std::string& activation, FloatArray x, FloatArray kernel, FloatArray rk,
         py::object bias, py::object mask, std::vector<FloatArray> initial_states, bool return_sequences,
         bool go_backwards, bool zero_output_for_mask, bool reference, py::object recurrent_mask) {
        RnnOptions o{cell, activation_from_name(activation), return_sequences, go_backwards, zero_output_for_mask,
                     reference};
        std::vector<FloatArray> keep;
        Tensor tx = view_of(x), tk = view_of(kernel), tr = view_of(rk), tb = optional_view(bias, keep),
               tm = optional_view(mask, keep), trm = optional_view(recurrent_mask, keep);
        std::vector<Tensor> h0 = views(initial_states);
        RnnOutputs out;
        {
          py::gil_scoped_release nogil;
          out = rnn_forward(o, tx, tk, tr, tb, tm, h0, trm);
        }
        py::list states;
        for (const Tensor& s : out.states) states.append(to_numpy(s));
        return py::make_tuple(to_numpy(out.y), states);
      },
      py::arg("cell"), py::arg("activation"), py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"),
      py::arg("bias"), py::arg("mask"), py::arg("initial_states"), py::arg("return_sequences"),
      py::arg("go_backwards"), py::arg("zero_output_for_mask"), py::arg("reference"),
      py::arg("recurrent_mask") = py::none());
  m.def(
      "rnn_backward",
      [](const std::string& cell, const std::string& activation, FloatArray dy, std::vector<FloatArray> dstates,
         FloatArray x, FloatArray kernel, FloatArray rk, py::object bias, py::object mask,
         std::vector<FloatArray> initial_states, bool return_sequences, bool go_backwards, bool zero_output_for_mask,
         bool reference, py::object recurrent_mask) {
        RnnOptions o{cell, activation_from_name(activation), return_sequences, go_backwards, zero_output_for_mask,
                     reference};
        std::vector<FloatArray> keep;
        Tensor tdy = view_of(dy), tx = view_of(x), tk = view_of(kernel), tr = view_of(rk),
               tb = optional_view(bias, keep), tm = optional_view(mask, keep),
               trm = optional_view(recurrent_mask, keep);
        std::vector<Tensor> ds = views(dstates), h0 = views(initial_states);
        RnnGradients g;
        {
          py::gil_scoped_release nogil;
          g = rnn_backward(o, tdy, ds, tx, tk, tr, tb, tm, h0, trm);
        }
        py::list dh0;
        for (const Tensor& s : g.dinitial_states) dh0.append(to_numpy(s));
        return py::make_tuple(to_numpy(g.dx), to_numpy(g.dkernel), to_numpy(g.drecurrent_kernel),
                              g.dbias.size() > 0 ? py::object(to_numpy(g.dbias)) : py::object(py::none()), dh0);
      },
      py::arg("cell"), py::arg("activation"), py::arg("dy"), py::arg("dstates"), py::arg("x"), py::arg("kernel"),
      py::arg("recurrent_kernel"), py::arg("bias"), py::arg("mask"), py::arg("initial_states"),
      py::arg("return_sequences"), py::arg("go_backwards"), py::arg("zero_output_for_mask"), py::arg("reference"),
      py::arg("recurrent_mask") = py::none());
}

}  // namespace nncore::bindings
