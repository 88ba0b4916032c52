#ifndef OTTER_CARCHIVE_SHIM_H
#define OTTER_CARCHIVE_SHIM_H
#include <archive.h>
#include <archive_entry.h>

/* The AE_IF* macros carry a cast, which Swift does not import. */
static const unsigned int carchive_ifmt = AE_IFMT;
static const unsigned int carchive_ifreg = AE_IFREG;
static const unsigned int carchive_ifdir = AE_IFDIR;
static const unsigned int carchive_iflnk = AE_IFLNK;
#endif
