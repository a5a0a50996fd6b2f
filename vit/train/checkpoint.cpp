// Checkpoints as one safetensors file: the layout is described in checkpoint.h.
#include "vit/train/checkpoint.h"

#include <charconv>
#include <cmath>
#include <system_error>

#include "core/ops.h"

namespace xg::vit::train {

namespace {

std::string format_double(double v) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

// Metadata is untrusted text: each number is parsed whole and checked, and the error names
// the file and the key.
const std::string& meta(const SafetensorsFile& f, const std::string& key, const std::string& path, const SrcLoc& loc) {
    auto it = f.metadata.find(key);
    XG_CHECK(it != f.metadata.end(), loc, "checkpoint " << path << ": missing metadata \"" << key << "\"");
    return it->second;
}

int64_t meta_int(const SafetensorsFile& f, const std::string& key, const std::string& path, const SrcLoc& loc,
                 int64_t min_value = 0) {
    const std::string& text = meta(f, key, path, loc);
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    XG_CHECK(ec == std::errc() && end == text.data() + text.size() && v >= min_value, loc,
             "checkpoint " << path << ": metadata \"" << key << "\" = \"" << text
                           << "\" is not an integer >= " << min_value);
    return v;
}

double meta_double(const SafetensorsFile& f, const std::string& key, const std::string& path, const SrcLoc& loc) {
    const std::string& text = meta(f, key, path, loc);
    double v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    XG_CHECK(ec == std::errc() && end == text.data() + text.size() && std::isfinite(v), loc,
             "checkpoint " << path << ": metadata \"" << key << "\" = \"" << text << "\" is not a number");
    return v;
}

void put_config(std::map<std::string, std::string>& metadata, const TrainConfig& config) {
    for (const auto& [flag, value] : config.to_metadata()) metadata["config." + flag] = value;
}

// The settings stored in a file, validated; the error names the file.
TrainConfig read_config(const SafetensorsFile& f, const std::string& path, const SrcLoc& loc) {
    std::map<std::string, std::string> flags;
    for (const auto& [key, value] : f.metadata)
        if (key.rfind("config.", 0) == 0) flags[key.substr(7)] = value;
    XG_CHECK(!flags.empty(), loc, "checkpoint " << path << ": no settings (config.*) in its metadata");
    TrainConfig config;
    // A file written before a flag existed has no key for it: it ran with what is now that flag's off.
    config.patch_overlap = 0;  // --patch-overlap
    config.tta = false;        // --tta
    try {
        config.apply_metadata(flags, loc);
        config.validate(loc);
    } catch (const Error& e) {
        throw_error("checkpoint " + path + ": bad settings: " + e.what(), loc);
    }
    return config;
}

// The tensors named prefix.* with the prefix removed.
TensorMap with_prefix(const TensorMap& tensors, const std::string& prefix) {
    TensorMap out;
    for (const auto& [name, t] : tensors)
        if (name.rfind(prefix, 0) == 0) out[name.substr(prefix.size())] = t;
    return out;
}

}  // namespace

void save_checkpoint(const std::string& path, const nn::Module& model, const nn::optim::Optimizer& optimizer,
                     const nn::optim::LRScheduler& scheduler, const TrainConfig& config, const TrainState& state,
                     SrcLoc loc) {
    TensorMap tensors;
    for (const auto& [name, t] : model.state_dict()) tensors["model." + name] = t;
    for (const auto& [name, t] : optimizer.state_dict()) tensors["optimizer." + name] = t;
    for (const auto& [name, t] : scheduler.state_dict()) tensors["scheduler." + name] = t;
    tensors["rng_state"] = get_rng_state();

    std::map<std::string, std::string> metadata;
    metadata["format"] = kCheckpointFormat;
    put_config(metadata, config);
    metadata["state.step"] = std::to_string(state.step);
    metadata["state.epoch"] = std::to_string(state.epoch);
    metadata["state.batches_consumed"] = std::to_string(state.batches_consumed);
    metadata["state.total_steps"] = std::to_string(state.total_steps);
    metadata["state.warmup_steps"] = std::to_string(state.warmup_steps);
    metadata["state.elapsed_s"] = format_double(state.elapsed_s);
    metadata["state.test_accuracy"] = format_double(state.test_accuracy);
    metadata["state.finished"] = state.finished ? "1" : "0";
    metadata["state.epoch_loss_sum"] = format_double(state.epoch_loss_sum);
    metadata["state.epoch_correct"] = std::to_string(state.epoch_correct);
    metadata["state.epoch_seen"] = std::to_string(state.epoch_seen);
    save_safetensors(path, tensors, metadata, loc);
}

namespace {

Checkpoint checkpoint_from(const SafetensorsFile& f, const std::string& path, const SrcLoc& loc) {
    auto format = f.metadata.find("format");
    XG_CHECK(format != f.metadata.end() && format->second == kCheckpointFormat, loc,
             "checkpoint " << path << ": not a training checkpoint (metadata \"format\" is "
                           << (format == f.metadata.end() ? std::string("missing") : "\"" + format->second + "\"")
                           << ", expected \"" << kCheckpointFormat << "\")");
    Checkpoint c;
    c.config = read_config(f, path, loc);
    TrainState& s = c.state;
    s.step = meta_int(f, "state.step", path, loc);
    s.epoch = meta_int(f, "state.epoch", path, loc);
    s.batches_consumed = meta_int(f, "state.batches_consumed", path, loc);
    s.total_steps = meta_int(f, "state.total_steps", path, loc, 1);
    s.warmup_steps = meta_int(f, "state.warmup_steps", path, loc);
    s.elapsed_s = meta_double(f, "state.elapsed_s", path, loc);
    s.test_accuracy = meta_double(f, "state.test_accuracy", path, loc);
    s.finished = meta_int(f, "state.finished", path, loc) != 0;
    s.epoch_loss_sum = meta_double(f, "state.epoch_loss_sum", path, loc);
    s.epoch_correct = meta_int(f, "state.epoch_correct", path, loc);
    s.epoch_seen = meta_int(f, "state.epoch_seen", path, loc);
    XG_CHECK(s.step <= s.total_steps && s.warmup_steps <= s.total_steps && s.epoch_correct <= s.epoch_seen, loc,
             "checkpoint " << path << ": inconsistent counters (step " << s.step << ", total_steps " << s.total_steps
                           << ", warmup_steps " << s.warmup_steps << ", epoch_correct " << s.epoch_correct
                           << ", epoch_seen " << s.epoch_seen << ")");

    c.model = with_prefix(f.tensors, "model.");
    for (auto& [name, t] : with_prefix(f.tensors, "optimizer.")) c.optimizer[name] = t;
    for (auto& [name, t] : with_prefix(f.tensors, "scheduler.")) c.scheduler[name] = t;
    auto rng = f.tensors.find("rng_state");
    XG_CHECK(rng != f.tensors.end(), loc, "checkpoint " << path << ": no rng_state tensor");
    c.rng_state = rng->second;
    XG_CHECK(!c.model.empty() && !c.optimizer.empty() && !c.scheduler.empty(), loc,
             "checkpoint " << path << ": the model, optimizer or scheduler state is missing");
    return c;
}

}  // namespace

Checkpoint load_checkpoint(const std::string& path, SrcLoc loc) {
    return checkpoint_from(load_safetensors(path, loc), path, loc);
}

void save_model(const std::string& path, const nn::Module& model, const TrainConfig& config, SrcLoc loc) {
    TensorMap tensors;
    for (const auto& [name, t] : model.state_dict()) tensors[name] = t;
    std::map<std::string, std::string> metadata;
    metadata["format"] = kModelFormat;
    put_config(metadata, config);
    save_safetensors(path, tensors, metadata, loc);
}

TrainedModel load_trained_model(const std::string& path, SrcLoc loc) {
    TrainedModel out;
    TensorMap weights;
    {
        SafetensorsFile f = load_safetensors(path, loc);
        auto format = f.metadata.find("format");
        XG_CHECK(format != f.metadata.end() && (format->second == kCheckpointFormat || format->second == kModelFormat),
                 loc,
                 path << ": neither a training checkpoint nor a trained model (expected metadata \"format\" \""
                      << kCheckpointFormat << "\" or \"" << kModelFormat << "\")");
        if (format->second == kModelFormat) {
            out.config = read_config(f, path, loc);
            weights = std::move(f.tensors);
        } else {
            Checkpoint c = checkpoint_from(f, path, loc);
            out.config = c.config;
            out.state = c.state;
            weights = std::move(c.model);
        }
    }
    out.model = std::make_shared<VisionTransformer>(out.config.vit_config(), loc);
    out.model->load_state_dict(weights, /*strict=*/true, loc);
    out.model->eval();
    return out;
}

}  // namespace xg::vit::train
