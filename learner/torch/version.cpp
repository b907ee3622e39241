//go:build torch

// The libtorch version this package is compiled against, for run provenance.
#include <torch/version.h>

extern "C" const char* alrl_torch_version(void) { return TORCH_VERSION; }

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/Context.h>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <string>

// The kernels libtorch picked on this CPU and its math libraries, for run
// provenance: lines of at::show_config() and at::get_parallel_info() that
// decide the last bits of floating-point results. The caller frees the
// result with free().
extern "C" char* alrl_torch_numerics(void) {
	std::string out;
	auto keep = [&out](const std::string& text, const char* const* prefixes) {
		size_t pos = 0;
		while (pos < text.size()) {
			size_t end = text.find('\n', pos);
			if (end == std::string::npos) end = text.size();
			std::string line = text.substr(pos, end - pos);
			size_t s = line.find_first_not_of(" -\t");
			if (s != std::string::npos) line = line.substr(s);
			for (const char* const* p = prefixes; *p; ++p) {
				if (line.rfind(*p, 0) == 0) { out += line; out += '\n'; break; }
			}
			pos = end + 1;
		}
	};
	static const char* const cfg[] = {"CPU capability usage", "Intel(R) oneAPI Math Kernel Library", "Intel(R) MKL", "Intel(R) Math Kernel Library",
		"Intel(R) MKL-DNN", "Intel(R) oneDNN", "OpenMP", "LAPACK is enabled", "USE_OPENMP", nullptr};
	static const char* const par[] = {"ATen parallel backend", "std::thread::hardware_concurrency", "Environment variables", "OMP_NUM_THREADS", "MKL_NUM_THREADS", nullptr};
	keep(at::show_config(), cfg);
	keep(at::get_parallel_info(), par);
	// The kernels oneDNN and OpenBLAS chose on this CPU, asked of the
	// libraries libtorch loaded (looked up at run time: a build against
	// other math libraries simply lacks these lines).
	typedef int (*isa_fn)(void);
	typedef char* (*str_fn)(void);
	if (auto isa = reinterpret_cast<isa_fn>(dlsym(RTLD_DEFAULT, "dnnl_get_effective_cpu_isa"))) {
		char buf[32];
		std::snprintf(buf, sizeof buf, "0x%x", isa());
		out += std::string("dnnl effective isa: ") + buf + "\n";
	}
	if (auto core = reinterpret_cast<str_fn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"))) {
		if (const char* c = core()) out += std::string("openblas core: ") + c + "\n";
	}
	if (auto conf = reinterpret_cast<str_fn>(dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
		if (const char* c = conf()) out += std::string("openblas config: ") + c + "\n";
	}
	out += std::string("deterministic algorithms: ") + (at::globalContext().deterministicAlgorithms() ? "on" : "off") + "\n";
	char* r = static_cast<char*>(malloc(out.size() + 1));
	if (r) std::memcpy(r, out.c_str(), out.size() + 1);
	return r;
}

// alrl_torch_deterministic asks libtorch for deterministic algorithms
// (warn_only: an op without a deterministic kernel warns rather than fails).
extern "C" void alrl_torch_deterministic(int on) {
	at::globalContext().setDeterministicAlgorithms(on != 0, /*warn_only=*/true);
}
