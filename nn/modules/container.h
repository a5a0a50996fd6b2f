#pragma once
// nn.Sequential and nn.ModuleList: ordered lists of submodules named "0", "1", ...
// so their parameters get PyTorch's names ("0.weight", "layers.3.linear1.bias").
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "nn/module.h"

namespace xg::nn {

// Shared by Sequential and ModuleList: the list, its indexing and iteration.
class ModuleVector {
  public:
    size_t size() const { return modules_.size(); }
    bool empty() const { return modules_.empty(); }
    const std::shared_ptr<Module>& operator[](size_t i) const;
    // The i-th module as its own type: seq.at<Linear>(0)->weight. An error if it is not one.
    template <class M>
    std::shared_ptr<M> at(size_t i) const {
        auto m = std::dynamic_pointer_cast<M>((*this)[i]);
        if (!m) bad_cast(i);
        return m;
    }
    auto begin() const { return modules_.begin(); }
    auto end() const { return modules_.end(); }

  protected:
    void add(std::shared_ptr<Module> m, const char* owner);
    void visit_all(Visitor& v);
    [[noreturn]] void bad_cast(size_t i) const;
    std::vector<std::shared_ptr<Module>> modules_;
};

// Calls its modules in order, each one's output the next one's input:
//   auto mlp = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(8, 32),
//                                               std::make_shared<nn::GELU>(),
//                                               std::make_shared<nn::Linear>(32, 8));
class Sequential : public Cloneable<Sequential>, public ModuleVector {
  public:
    Sequential() = default;
    template <class... M>
    explicit Sequential(std::shared_ptr<M>... modules) {
        (push_back(std::move(modules)), ...);
    }
    explicit Sequential(const std::vector<std::shared_ptr<Module>>& modules);

    void push_back(std::shared_ptr<Module> module) { add(std::move(module), "Sequential"); }
    Sequential& append(std::shared_ptr<Module> module) { push_back(std::move(module)); return *this; }

    Tensor forward(const Tensor& input) override;
    Tensor operator()(const Tensor& input) { return forward(input); }

    std::string type_name() const override { return "Sequential"; }
    void visit(Visitor& v) override { visit_all(v); }
};

// Holds submodules so they are registered (parameters, state_dict, train/eval, printing), with
// no forward of its own: the owner loops over it, as a TransformerEncoder over its layers.
class ModuleList : public Cloneable<ModuleList>, public ModuleVector {
  public:
    ModuleList() = default;
    explicit ModuleList(const std::vector<std::shared_ptr<Module>>& modules);

    void push_back(std::shared_ptr<Module> module) { add(std::move(module), "ModuleList"); }
    ModuleList& append(std::shared_ptr<Module> module) { push_back(std::move(module)); return *this; }

    std::string type_name() const override { return "ModuleList"; }
    void visit(Visitor& v) override { visit_all(v); }
};

}  // namespace xg::nn
