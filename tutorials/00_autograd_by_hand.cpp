// 00 — Autograd by hand, for the learner who starts from zero.
//
// A tiny expression, the graph xgrad records while computing it, that graph exported for
// Graphviz, the chain rule applied by hand, and the same numbers from backward().
// (The expression is the classic one from micrograd's walkthrough.)
//
// PyTorch:                                         xgrad:
//   a = torch.tensor(2.0, requires_grad=True)        Tensor a = xg::tensor({2.0}, xg::requires_grad());
//   L = (a * b + c) * f                              Tensor L = (a * b + c) * f;
//   L.backward()                                     L.backward();
#include <fstream>
#include <iostream>

#include "xgrad.h"

using xg::Tensor;

// Prints a node and, indented below it, the nodes its gradient flows to.
void print_graph(const std::shared_ptr<xg::autograd::Node>& node, int depth = 0) {
    if (!node) return;
    std::cout << std::string(2 * depth, ' ') << node->name();
    if (auto* acc = dynamic_cast<xg::autograd::AccumulateGrad*>(node.get()))
        std::cout << "   (adds into " << acc->leaf()->name << ".grad)";
    else
        std::cout << "   (made at " << xg::format_loc(node->loc()) << ")";
    std::cout << "\n";
    for (const auto& next : node->next_functions()) print_graph(next, depth + 1);
}

int main() {
    // Leaves: tensors we want gradients for.
    Tensor a = xg::tensor({2.0}, xg::requires_grad()).set_name("a");
    Tensor b = xg::tensor({-3.0}, xg::requires_grad()).set_name("b");
    Tensor c = xg::tensor({10.0}, xg::requires_grad()).set_name("c");
    Tensor f = xg::tensor({-2.0}, xg::requires_grad()).set_name("f");

    // Forward: every op records a node (grad_fn) that knows how to send gradients back.
    Tensor e = a * b;        // e = -6
    Tensor d = e + c;        // d = 4
    Tensor L = d * f;        // L = -8
    L.set_name("L");
    std::cout << "L = " << L << "\n\n";

    std::cout << "The graph, from L back to the leaves:\n";
    print_graph(L.grad_fn());

    // The same graph for Graphviz:  dot -Tpng autograd_by_hand.dot -o autograd_by_hand.png
    std::ofstream("autograd_by_hand.dot") << xg::autograd::to_dot(L);
    std::cout << "\n(wrote autograd_by_hand.dot)\n\n";

    // Backward by hand, with the chain rule, from L down:
    //   dL/dL = 1
    //   L = d * f      =>  dL/dd = f = -2          dL/df = d = 4
    //   d = e + c      =>  dL/de = dL/dd = -2      dL/dc = dL/dd = -2
    //   e = a * b      =>  dL/da = dL/de * b = 6   dL/db = dL/de * a = -4
    double dd = f.item(), df = d.item();
    double de = dd, dc = dd;
    double da = de * b.item(), db = de * a.item();

    // Backward by xgrad: the engine visits the nodes above in reverse and does the same sums.
    L.backward();

    std::cout << "          by hand   backward()\n";
    std::cout << "dL/da     " << da << "         " << a.grad().item() << "\n";
    std::cout << "dL/db     " << db << "        " << b.grad().item() << "\n";
    std::cout << "dL/dc     " << dc << "        " << c.grad().item() << "\n";
    std::cout << "dL/df     " << df << "         " << f.grad().item() << "\n";

    bool agree = da == a.grad().item() && db == b.grad().item() && dc == c.grad().item() && df == f.grad().item();
    std::cout << "\n" << (agree ? "backward() agrees with the chain rule by hand" : "MISMATCH") << "\n";
    std::cout << "a.grad = " << a.grad() << "\n";
    return agree ? 0 : 1;
}
