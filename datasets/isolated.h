// Running a third-party parser of outside data in a child process.
//
// Some libraries cannot be protected by checking their input first: libhdf5 parses a file's
// B-trees, heaps and object headers as it goes, and a corrupt one can crash it (libhdf5 1.10.8,
// Debian 12: a SEGV in H5F__accum_read, tests/fuzz/thirdparty/). Such a library runs in a
// forked child: a crash ends the child, and the caller gets an Error that names the file, the
// library and the signal, instead of losing the process (a sweep worker, a Python session).
//
// The child may return bytes (a pipe) and may write into MAP_SHARED file mappings the parent
// made before calling (an image cache being built); nothing else it does reaches the parent.
// It must not use OpenMP (libgomp's thread pool does not survive fork) nor the engine's
// backends. It dies with its parent (PR_SET_PDEATHSIG).
#pragma once
#include <functional>
#include <string>

namespace unravel {

/// Runs `work` in a forked child and returns the bytes it returned. An exception thrown by
/// `work` is rethrown here as an Error with the same message. When the child dies by a signal
/// or exits without an answer, throws an Error "<what>: <library> crashed reading it (signal N,
/// NAME) ...". `isolate` false runs `work` in this process (fuzzing: the fuzzer must see the
/// crash itself).
std::string run_isolated(const std::string& what, const std::string& library,
                         const std::function<std::string()>& work, bool isolate = true);

}  // namespace unravel
