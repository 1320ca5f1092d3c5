// The translation unit that builds the framework's precompiled LibTorch header (CMakeLists.txt).
