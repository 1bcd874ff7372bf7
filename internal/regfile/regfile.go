// Package regfile opens input files that must be regular files. Opening a
// FIFO for reading blocks until a writer appears (and a device may never
// end), so a command given one would hang past SIGTERM; regfile opens
// without blocking and refuses anything that is not a regular file before
// a byte is read.
package regfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular is wrapped by the error for a FIFO, device, socket or
// directory.
var ErrNotRegular = errors.New("not a regular file")

// Open opens name for reading if it is a regular file (a symlink to one
// included).
func Open(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	return checked(f)
}

// ReadFile is os.ReadFile for a file that must be a regular file: a FIFO
// or device is refused before a byte is read.
func ReadFile(name string) ([]byte, error) {
	f, err := Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// OpenIn opens name, a path relative to dir, for reading if it is a regular
// file inside dir: ".." that leaves dir, an absolute path and a symlink that
// points out of dir are refused (os.Root).
func OpenIn(dir, name string) (*os.File, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	return checked(f)
}

func checked(f *os.File) (*os.File, error) {
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if kind := Kind(fi.Mode()); kind != "" {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: f.Name(), Err: fmt.Errorf("is a %s, %w", kind, ErrNotRegular)}
	}
	// Reads of a regular file never block; clear the flag anyway so the
	// descriptor behaves as an ordinary one.
	_ = syscall.SetNonblock(int(f.Fd()), false)
	return f, nil
}

// Kind names what a non-regular file is ("named pipe (FIFO)", "directory",
// ...); "" for a regular file.
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return ""
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}
