// Tutorial 07: train the Vision Transformer of tutorials 01-06 on Fashion-MNIST.
//
//   ./build/release/tutorials/07_train_fashion_mnist                  # the default recipe, ~10 minutes
//   ./build/release/tutorials/07_train_fashion_mnist --help           # every flag and its default
//   ./build/release/tutorials/07_train_fashion_mnist --resume         # continue after Ctrl-C
//   ./build/release/tutorials/08_evaluate runs/fashion_mnist/model.safetensors
//
// This file is the whole script; the loop it runs lives in vit/train/trainer.cpp, where each
// line of the PyTorch script below sits above its C++ counterpart. In PyTorch:
//
//   args = parser.parse_args()
//   torch.manual_seed(args.seed)
//   train_loader = DataLoader(FashionMNIST(args.data_dir, train=True, transform=...), args.batch_size, shuffle=True)
//   test_loader = DataLoader(FashionMNIST(args.data_dir, train=False, transform=...), 1000)
//   model = ViT(image_size=28, patch_size=args.patch_size, dim=args.dim, depth=args.depth, ...)
//   optimizer = torch.optim.AdamW(param_groups, lr=args.lr, weight_decay=args.weight_decay)
//   scheduler = warmup_cosine(optimizer, args.warmup_steps, total_steps)
//   for epoch in range(args.epochs):
//       model.train()
//       for images, labels in train_loader:
//           loss = F.cross_entropy(model(images), labels, label_smoothing=args.label_smoothing)
//           optimizer.zero_grad()
//           loss.backward()
//           torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad)
//           optimizer.step()
//           scheduler.step()
//       test_acc = evaluate(model, test_loader)      # model.eval(), torch.no_grad()
//       torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), ...}, "checkpoint.pt")
//   print(f"test accuracy: {100 * test_acc:.2f}%")
//
// What the C++ adds: a progress bar, metrics.csv, a time budget the learning-rate schedule is
// planned to fit (--time-budget), and checkpoints that survive Ctrl-C and crashes (--resume).
// docs/training.md explains the recipe and shows the accuracy it reaches over time.
#include <cstdio>
#include <exception>
#include <iostream>

#include "xgrad.h"
#include "vit/train/train.h"

namespace train = xg::vit::train;

int main(int argc, char** argv) {
    try {
        // args = parser.parse_args()
        train::ParsedArgs args = train::parse_train_args(argc, argv);
        if (args.help) {
            std::cout << train::train_help(argc > 0 ? argv[0] : "07_train_fashion_mnist");
            return 0;
        }
        // With --resume, the settings come from the checkpoint (flags may only repeat them).
        train::TrainConfig config = train::resolve_config(args);

        // Data, model, AdamW and the warmup + cosine schedule (or all of them restored from --resume).
        train::Trainer trainer(config);
        // The epochs: train, evaluate, save. Prints "test accuracy: NN.NN%" at the end.
        train::TrainResult result = trainer.fit();
        // Stopped by Ctrl-C: the checkpoint is saved; 130 is the shell's code for "interrupted".
        return result.interrupted ? 130 : 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
