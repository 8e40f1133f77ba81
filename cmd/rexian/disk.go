package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// diskSpace reports the bytes free (to an unprivileged user) and the size of the file
// system that holds path.
func diskSpace(path string) (free, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}
