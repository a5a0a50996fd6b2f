#include "nn/modules/container.h"

namespace xg::nn {

const std::shared_ptr<Module>& ModuleVector::operator[](size_t i) const {
    if (i >= modules_.size())
        throw Error("index " + std::to_string(i) + " is out of range: the list holds " + std::to_string(modules_.size()) +
                    " modules");
    return modules_[i];
}

void ModuleVector::add(std::shared_ptr<Module> m, const char* owner) {
    if (!m) throw Error(std::string(owner) + ": cannot add a null module (index " + std::to_string(modules_.size()) + ")");
    modules_.push_back(std::move(m));
}

void ModuleVector::visit_all(Visitor& v) {
    // Reported by reference, so clone() and load_state_dict reach the list's own pointers.
    for (size_t i = 0; i < modules_.size(); ++i) v.module(std::to_string(i), modules_[i]);
}

void ModuleVector::bad_cast(size_t i) const {
    throw Error("module " + std::to_string(i) + " is a " + modules_[i]->type_name() + ", not the type asked for");
}

Sequential::Sequential(const std::vector<std::shared_ptr<Module>>& modules) {
    for (const auto& m : modules) push_back(m);
}

Tensor Sequential::forward(const Tensor& input) {
    Tensor x = input;
    for (const auto& m : modules_) x = m->forward(x);
    return x;
}

ModuleList::ModuleList(const std::vector<std::shared_ptr<Module>>& modules) {
    for (const auto& m : modules) push_back(m);
}

}  // namespace xg::nn
