using System.Net.Sockets;
using ItkPs.Core.Unix;

namespace ItkPs.Server.Privileged;

/// <summary>
/// The files the master touches as root, each only where nobody but root can steer the path
/// (<see cref="PathSafety"/>): vhost logs (opened once per start or reload, O_NOFOLLOW, and handed
/// to the workers as descriptors), the control socket, the pid file. The master keeps no run
/// directory: snapshots travel in sealed memory files (<see cref="SealedFile"/>).
/// </summary>
public static class RootFiles
{
    /// <summary>
    /// Run by the master (root): opens a log for appending, creating it 0640, when no directory on
    /// its way can be changed by anyone but root. Returns -1 with the reason otherwise: then the
    /// worker opens it as the vhost's user, who can only reach what it could write anyway.
    /// </summary>
    public static int OpenLog(string path, out string? refused)
    {
        refused = null;
        if (!Path.IsPathRooted(path)) { refused = "not an absolute path"; return -1; }
        if (PathSafety.UntrustedWriter(path, SystemAccounts.Instance) is { } w) { refused = w.ToString(); return -1; }
        int fd = Native.open(path, Native.O_WRONLY | Native.O_APPEND | Native.O_CREAT | Native.O_NOFOLLOW | Native.O_NONBLOCK | Native.O_NOCTTY | Native.O_CLOEXEC, 0b110_100_000);
        if (fd < 0)
        {
            int e = Native.Errno;
            refused = e == Native.ELOOP ? "it is a symbolic link" : Native.ErrorText(e);
            return -1;
        }
        if (Mono.Unix.Native.Syscall.fstat(fd, out var st) != 0
            || (st.st_mode & Mono.Unix.Native.FilePermissions.S_IFMT) is not (Mono.Unix.Native.FilePermissions.S_IFREG or Mono.Unix.Native.FilePermissions.S_IFCHR))
        {
            Native.close(fd);
            refused = "not a regular file";
            return -1;
        }
        Native.fcntl(fd, Native.F_SETFL, Native.O_WRONLY | Native.O_APPEND);
        return fd;
    }

    /// <summary>
    /// Run by the master (root) at start: the control socket's directory exists (made 0755 when
    /// missing) and nobody but root can change it; a stale socket of a master that is gone is
    /// removed; anything else at that name, or a live master, is refused. Throws with the reason.
    /// </summary>
    public static void PrepareControlSocket(string socketPath)
    {
        if (!Path.IsPathRooted(socketPath)) throw new InvalidOperationException($"--control-socket '{socketPath}' must be an absolute path");
        string dir = Path.GetDirectoryName(socketPath)!;
        if (PathSafety.UntrustedWriter(socketPath, SystemAccounts.Instance) is { } w)
            throw new InvalidOperationException($"control socket {socketPath}: {w}; put it in a directory only root can change (the default is /run/itkd/itkd.sock)");
        if (!Directory.Exists(dir))
        {
            Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            if (PathSafety.UntrustedWriter(socketPath, SystemAccounts.Instance) is { } again)
                throw new InvalidOperationException($"control socket {socketPath}: {again}");
        }
        if (Mono.Unix.Native.Syscall.lstat(socketPath, out var st) != 0) return;
        if ((st.st_mode & Mono.Unix.Native.FilePermissions.S_IFMT) != Mono.Unix.Native.FilePermissions.S_IFSOCK)
            throw new InvalidOperationException($"control socket {socketPath} exists and is not a socket; remove it or choose another --control-socket");
        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(socketPath));
                throw new InvalidOperationException($"another itkd answers on {socketPath}; stop it first or choose another --control-socket");
            }
            catch (SocketException) { } // nobody listens: a socket left by a master that was killed
        }
        File.Delete(socketPath);
    }

    /// <summary>Run by the master (root): writes the pid file, refusing a path others can steer or a symbolic link.</summary>
    public static void WritePidFile(string path, int pid)
    {
        if (PathSafety.UntrustedWriter(Path.GetFullPath(path), SystemAccounts.Instance) is { } w)
            throw new InvalidOperationException($"pid file {path}: {w}");
        int fd = Native.open(path, Native.O_WRONLY | Native.O_CREAT | Native.O_NOFOLLOW | Native.O_CLOEXEC | 0x200 /* O_TRUNC */, 0b110_100_100);
        if (fd < 0) throw new InvalidOperationException($"pid file {path}: {Native.Error()}");
        using var s = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, true), FileAccess.Write);
        s.Write(System.Text.Encoding.ASCII.GetBytes($"{pid}\n"));
    }
}

/// <summary>What the master does to itself at start, as root, before it spawns anything.</summary>
public static unsafe class MasterProcess
{
    /// <summary>
    /// Descriptors inherited from whatever started the master (a shell's redirections, an
    /// editor's files) are made close-on-exec, so that no child can inherit one. The spawner
    /// closes everything it does not map anyway; this covers the runtime's own children too.
    /// </summary>
    public static void MarkInheritedCloseOnExec() => Native.close_range(3, uint.MaxValue, Native.CLOSE_RANGE_CLOEXEC);

    /// <summary>
    /// Gives up the controlling terminal when the master runs in the foreground of a shell, so no
    /// child of it (they inherit the controlling terminal, not a descriptor) can open /dev/tty and
    /// push keystrokes into the operator's shell (TIOCSTI). The master keeps its process group and
    /// its session: Ctrl+C still reaches it, and its processes stay in the shell's scheduling group.
    /// Returns whether there was a terminal to give up.
    /// </summary>
    public static bool DetachControllingTerminal()
    {
        int tty = Native.open("/dev/tty", Native.O_RDWR | Native.O_NOCTTY | Native.O_CLOEXEC, 0);
        if (tty < 0) return false; // none (Start-ItkServer, systemd): nothing to give up
        try
        {
            // A session leader giving up its terminal sends SIGHUP to the foreground group: ignore it meanwhile.
            bool leader = Native.getsid(0) == Environment.ProcessId;
            nint old = leader ? Native.signal(1 /* SIGHUP */, 1 /* SIG_IGN */) : 0;
            int r = Native.ioctl(tty, Native.TIOCNOTTY, 0);
            if (leader) Native.signal(1, old);
            if (r != 0) throw new PrivilegeException($"TIOCNOTTY: {Native.Error()}");
            return true;
        }
        finally { Native.close(tty); }
    }

    /// <summary>
    /// Raises the soft limit on open descriptors to the hard limit (the roles inherit it): the
    /// dispatcher holds every connection whose request head is still arriving.
    /// </summary>
    public static ulong RaiseDescriptorLimit()
    {
        ulong* l = stackalloc ulong[2];
        if (Native.getrlimit(Native.RLIMIT_NOFILE, l) != 0) return 0;
        if (l[0] < l[1]) { l[0] = l[1]; Native.setrlimit(Native.RLIMIT_NOFILE, l); }
        return l[0];
    }

    /// <summary>A signal to its default action: before exec (an ignored SIGCHLD would survive exec and make the runtime reap children itself), and for a signal the master must take whatever its parent ignored.</summary>
    public static void DefaultSignal(int signal) => Native.signal(signal, 0);
}
