using ItkPs.Core.Unix;
using Mono.Unix.Native;

namespace ItkPs.Server.Privileged;

/// <summary>
/// The binary workers are started from. build.ps1 ships two builds of the same program beside each
/// other: <c>itkd</c> (position-independent, what the master and the dispatcher run) and
/// <c>itkd-worker</c>, linked at a fixed address and not dehydrated, whose code and type data stay
/// file pages every worker shares. In the position-independent build each process rehydrates (or,
/// undehydrated, relocates) about 3.7 MB of type data into pages of its own: measured on an idle
/// worker, 7.4 MB PSS with <c>itkd</c>, under 3 MB private with <c>itkd-worker</c>, which is what a
/// thousand sites cost. The fixed address gives up ASLR of the image in processes that are already
/// the tenant's (a worker runs as the site's user, who may ptrace it); the master, as root, and the
/// dispatcher keep it.
/// <para>
/// The master runs the image as root until the worker drops its privileges, so it is taken only
/// when the file is root's, not writable by group or others, and no directory on the way can be
/// changed by anyone but root; it is opened once (O_NOFOLLOW) and started through the master's own
/// descriptor (/proc/&lt;master&gt;/fd/N), so a file put there later, by an upgrade for instance, is
/// not mixed with a running master: workers come from the image of the master's start. Otherwise
/// workers are started from the master's own binary, as the dispatcher is, and the master says why.
/// </para>
/// </summary>
public static class WorkerImage
{
    /// <summary>The file name beside the master's binary.</summary>
    public const string FileName = "itkd-worker";

    private static readonly Lazy<(string? Path, string Why)> Image = new(Open);

    /// <summary>What workers are started from: the worker image through the master's descriptor, or null (the master's own binary) and why.</summary>
    public static (string? Path, string Why) Resolve() => Image.Value;

    private static (string? Path, string Why) Open()
    {
        string? self = Environment.ProcessPath;
        if (self is null || Path.GetFileNameWithoutExtension(self) == "dotnet") return (null, "no native itkd to look beside");
        string path = Path.Combine(Path.GetDirectoryName(self)!, FileName);
        var (fd, problem) = OpenChecked(path, SystemAccounts.Instance);
        if (fd < 0) return (null, problem!);
        return ($"/proc/{Environment.ProcessId}/fd/{fd}", $"workers start from {path}");
    }

    /// <summary>
    /// Opens <paramref name="path"/> for starting as root: a regular, executable file of root's that
    /// only root can write, on a path only root can change. Returns the descriptor (close-on-exec),
    /// or -1 and why not.
    /// </summary>
    public static (int Fd, string? Problem) OpenChecked(string path, IAccountDatabase accounts)
    {
        if (PathSafety.UntrustedWriter(path, accounts) is { } w) return (-1, $"{path}: {w}");
        int fd = Native.open(path, Native.O_RDONLY | Native.O_CLOEXEC | Native.O_NOFOLLOW, 0);
        if (fd < 0) return (-1, $"{path}: {Native.Error()}");
        string? why = null;
        if (Syscall.fstat(fd, out var st) != 0) why = $"{path}: {Native.Error()}";
        else if ((st.st_mode & FilePermissions.S_IFMT) != FilePermissions.S_IFREG) why = $"{path} is not a regular file";
        else if (st.st_uid != 0) why = $"{path} is owned by uid {st.st_uid}, not root";
        else if (((uint)st.st_mode & 0x12) != 0) why = $"{path} is writable by its group or by others";
        else if (((uint)st.st_mode & 0x40) == 0) why = $"{path} is not executable by its owner";
        if (why is null) return (fd, null);
        Native.close(fd);
        return (-1, why);
    }
}
