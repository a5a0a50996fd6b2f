#include "vit/viz/graph.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

extern char** environ;

namespace xg::vit::viz {

namespace {

// Runs argv[0] (looked up on the PATH) with its output discarded (and its error output too when
// quiet_errors) and returns its exit status, or -1 when it could not be started. posix_spawnp,
// not std::system: no shell, so file names need no quoting.
int run_quietly(std::vector<std::string> args, bool quiet_errors = false) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    if (quiet_errors) posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return -1;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    if (!WIFEXITED(status)) return -1;
    // 127: the child could not exec the program (some libcs report a missing program this way).
    return WEXITSTATUS(status) == 127 ? -1 : WEXITSTATUS(status);
}

}  // namespace

bool graphviz_available() { return run_quietly({"dot", "-V"}, /*quiet_errors=*/true) == 0; }  // -V prints to stderr

bool render_dot(const std::string& dot_text, const std::string& dot_path, const std::string& png_path, SrcLoc loc) {
    {
        std::ofstream f(dot_path, std::ios::trunc);
        XG_CHECK(f.good(), loc, "viz::render_dot: cannot open " << dot_path << " for writing");
        f << dot_text;
        f.close();
        XG_CHECK(f.good(), loc, "viz::render_dot: writing " << dot_path << " failed");
    }
    if (!graphviz_available()) return false;
    const int status = run_quietly({"dot", "-Tpng", dot_path, "-o", png_path});
    XG_CHECK(status == 0, loc, "viz::render_dot: `dot -Tpng " << dot_path << " -o " << png_path << "` failed (exit status "
                                                               << status << ")");
    return true;
}

}  // namespace xg::vit::viz
