namespace ItkPs.Server.Privileged;

/// <summary>
/// Read-only in-memory files (memfd, sealed against writes and resizing) that carry a snapshot
/// from the master to a child at exec. Unlike a file in a run directory there is no name anyone
/// could pre-create, swap or replace between the master's write and the child's read.
/// </summary>
public static unsafe class SealedFile
{
    /// <summary>Run by the master (root): a sealed memfd holding <paramref name="content"/>, close-on-exec (the spawner maps it).</summary>
    public static int Create(string name, ReadOnlySpan<byte> content)
    {
        int fd = Native.memfd_create(name, 1 /* MFD_CLOEXEC */ | 2 /* MFD_ALLOW_SEALING */);
        if (fd < 0) throw new IOException($"memfd_create: {Native.Error()}");
        try
        {
            fixed (byte* p = content)
            {
                int done = 0;
                while (done < content.Length)
                {
                    nint n = Native.write(fd, p + done, (nuint)(content.Length - done));
                    if (n < 0) { if (Native.Errno == Native.EINTR) continue; throw new IOException($"memfd write: {Native.Error()}"); }
                    done += (int)n;
                }
            }
            if (Native.fcntl(fd, Native.F_ADD_SEALS, Native.F_SEAL_WRITE | Native.F_SEAL_GROW | Native.F_SEAL_SHRINK | Native.F_SEAL_SEAL) != 0)
                throw new IOException($"memfd seals: {Native.Error()}");
            return fd;
        }
        catch
        {
            Native.close(fd);
            throw;
        }
    }

    /// <summary>Run by a child at start: the whole content of descriptor <paramref name="fd"/>, which is then closed.</summary>
    public static byte[] ReadAndClose(int fd)
    {
        try
        {
            if (Mono.Unix.Native.Syscall.fstat(fd, out var st) != 0) throw new IOException($"snapshot descriptor {fd}: {Native.Error()}");
            if (st.st_size > 64L << 20) throw new InvalidDataException($"snapshot of {st.st_size} bytes");
            var bytes = new byte[st.st_size];
            fixed (byte* p = bytes)
            {
                int done = 0;
                while (done < bytes.Length)
                {
                    long n = Mono.Unix.Native.Syscall.pread(fd, (IntPtr)(p + done), (ulong)(bytes.Length - done), done);
                    if (n < 0) { if (Native.Errno == Native.EINTR) continue; throw new IOException($"snapshot read: {Native.Error()}"); }
                    if (n == 0) throw new InvalidDataException("snapshot shorter than its size");
                    done += (int)n;
                }
            }
            return bytes;
        }
        finally { Native.close(fd); }
    }
}
