// A shared library that exports no Trainyard entry point.
extern "C" __attribute__((visibility("default"))) int not_a_trainyard_plugin() { return 42; }
