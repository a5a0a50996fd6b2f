// to_dot: the autograd graph as Graphviz DOT, the picture micrograd draws, for any tensor.
//   std::ofstream("graph.dot") << xg::autograd::to_dot(loss);   then   dot -Tpng graph.dot -o graph.png
// Boxes are ops (name, output shape, the source line that ran them); ellipses are leaves.
#include <sstream>
#include <unordered_map>

#include "core/autograd/autograd.h"

namespace xg::autograd {

namespace {
std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}
}  // namespace

std::string to_dot(const Tensor& root) {
    std::ostringstream os;
    os << "digraph xgrad {\n  rankdir=BT;\n  node [fontname=\"monospace\", fontsize=10];\n";
    if (!root.defined() || !root.requires_grad()) {
        os << "  t [label=\"tensor " << shape_str(root.defined() ? root.shape() : Shape{})
           << " (no graph)\", shape=ellipse];\n}\n";
        return os.str();
    }
    std::unordered_map<const Node*, int> id;
    std::vector<const Node*> stack;
    std::shared_ptr<Node> start = gradient_edge(root);
    auto visit = [&](const Node* n) {
        auto [it, inserted] = id.emplace(n, static_cast<int>(id.size()));
        if (inserted) stack.push_back(n);
        return it->second;
    };
    visit(start.get());
    // The output itself, so the picture shows where the gradient enters.
    os << "  out [label=\"" << escape(root.name().empty() ? "output" : root.name()) << "\\n" << shape_str(root.shape())
       << "\", shape=ellipse, style=filled, fillcolor=\"#d9ead3\"];\n";
    os << "  n0 -> out;\n";
    while (!stack.empty()) {
        const Node* n = stack.back();
        stack.pop_back();
        int me = id[n];
        if (auto* acc = dynamic_cast<const AccumulateGrad*>(n)) {
            auto leaf = acc->leaf();
            std::string label = leaf && !leaf->name.empty() ? leaf->name : "leaf";
            os << "  n" << me << " [label=\"" << escape(label) << "\\n" << shape_str(n->output_shape())
               << "\", shape=ellipse, style=filled, fillcolor=\"#cfe2f3\"];\n";
        } else {
            os << "  n" << me << " [label=\"" << escape(n->name()) << "\\n" << shape_str(n->output_shape()) << "\\n"
               << escape(format_loc(n->loc())) << "\", shape=box];\n";
        }
        for (const auto& next : n->next_functions()) {
            if (!next) continue;
            int child = visit(next.get());
            os << "  n" << child << " -> n" << me << ";\n";
        }
    }
    os << "}\n";
    return os.str();
}

}  // namespace xg::autograd
