//go:build torch

// Writing a TorchScript module from its source and one parameter, so that
// tests (and users without Python) can make a backbone file that
// torch.jit.load and gotch's ModuleLoad read.
#include <torch/script.h>
#include <cstdlib>
#include <cstring>
#include <string>

static char* alrl_strdup(const std::string& s) {
	char* p = static_cast<char*>(std::malloc(s.size() + 1));
	if (p) std::memcpy(p, s.c_str(), s.size() + 1);
	return p;
}

// alrl_script_save defines a module with the parameter "weight" (rows x
// cols floats) and the methods in src, and saves it to path. It returns NULL,
// or an error message the caller frees.
extern "C" char* alrl_script_save(const char* src, const char* path, const float* w, long long rows, long long cols) {
	try {
		torch::jit::Module m("Backbone");
		auto weight = torch::from_blob(const_cast<float*>(w), {rows, cols}, torch::kFloat32).clone();
		m.register_parameter("weight", weight, false);
		m.define(src);
		m.save(path);
		return nullptr;
	} catch (const std::exception& e) {
		return alrl_strdup(e.what());
	}
}
