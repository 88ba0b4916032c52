#ifndef OTTER_CARCHIVE_SHIM_H
#define OTTER_CARCHIVE_SHIM_H
#include <archive.h>
#include <archive_entry.h>
#endif
