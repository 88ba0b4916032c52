#ifndef OTTER_CYAML_SHIM_H
#define OTTER_CYAML_SHIM_H
#include <yaml.h>
#endif
