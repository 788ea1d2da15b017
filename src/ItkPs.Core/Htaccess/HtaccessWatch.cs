using System.Runtime.InteropServices;
using System.Text;

namespace ItkPs.Core.Htaccess;

/// <summary>
/// Tells the directory walk when what it read may have changed, so that a remembered walk costs no
/// stat(2) per .htaccess per request: inotify watches on every directory whose .htaccess the walk
/// consults and on each of their ancestors up to "/". A generation number moves on any event that
/// can change what a path names or what a .htaccess holds: a .htaccess created, written, removed,
/// renamed or re-permissioned; an entry on a walked path created, removed or renamed (a symbolic
/// link re-pointed, a release directory swapped in); a watched directory itself moved or removed;
/// or the kernel's queue overflowing. Any other file changing (uploads, caches) moves nothing.
/// A walk made while the generation stays the same is trusted; after a move each is checked again
/// by stat and its watches renewed. Where inotify is not available or a watch cannot be added (the
/// user's watch limit, a directory it cannot read), that walk is checked by stat on every request,
/// as before. A request reads what the kernel queued (one read(2) that usually finds nothing,
/// instead of a stat per directory), so a change made before the request is always seen by it.
/// </summary>
public sealed partial class HtaccessWatch : IDisposable
{
    private const uint IN_MODIFY = 0x2, IN_ATTRIB = 0x4, IN_CLOSE_WRITE = 0x8, IN_MOVED_FROM = 0x40, IN_MOVED_TO = 0x80,
        IN_CREATE = 0x100, IN_DELETE = 0x200, IN_DELETE_SELF = 0x400, IN_MOVE_SELF = 0x800, IN_UNMOUNT = 0x2000,
        IN_Q_OVERFLOW = 0x4000, IN_IGNORED = 0x8000, IN_ONLYDIR = 0x1000000;
    private const uint Mask = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
        | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
    private const uint EntryEvents = IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB;
    private const uint SelfEvents = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED;
    private const int IN_CLOEXEC = 0x80000, IN_NONBLOCK = 0x800;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int inotify_init1(int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int inotify_add_watch(int fd, string path, uint mask);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint read(int fd, byte* buffer, nint count);

    [LibraryImport("libc")]
    private static partial int close(int fd);

    private readonly int _fd;
    private long _generation;
    private readonly object _lock = new();
    /// <summary>Each watch → the entry names that matter in its directory.</summary>
    private readonly Dictionary<int, HashSet<string>> _names = new();
    private volatile bool _closed;

    private readonly object _drain = new();

    private HtaccessWatch(int fd) => _fd = fd;

    /// <summary>A watch, or null where inotify cannot be had (the walk then checks by stat).</summary>
    public static HtaccessWatch? TryCreate()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
            return fd < 0 ? null : new HtaccessWatch(fd);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return null; }
    }

    /// <summary>Times the generation moved (a test can tell that a change was noticed).</summary>
    public long Changes { get { lock (_drain) return _changes; } }
    private long _changes;

    /// <summary>
    /// Watches each directory of <paramref name="consulted"/> (paths ending with '/') for its
    /// .htaccess, and every ancestor for the entry on the way down. Called before the walk reads
    /// anything, so that a change after the reading moves the generation. False when a watch could
    /// not be added: the walk is then not to be trusted without a stat.
    /// </summary>
    public bool Ensure(IEnumerable<string> consulted)
    {
        if (_closed) return false;
        bool all = true;
        lock (_lock)
        {
            foreach (var dir in consulted)
            {
                if (!dir.StartsWith('/')) { all = false; continue; }
                all &= Add(dir.Length > 1 ? dir.TrimEnd('/') : "/", HtaccessCache.FileName);
                // each ancestor, for the name that leads down to this directory
                string path = dir.TrimEnd('/');
                while (path.Length > 0)
                {
                    int slash = path.LastIndexOf('/');
                    string parent = slash == 0 ? "/" : path[..slash];
                    all &= Add(parent, path[(slash + 1)..]);
                    if (slash == 0) break;
                    path = parent;
                }
            }
        }
        return all;
    }

    private bool Add(string dir, string name)
    {
        // added again every time: the path may name another directory now than when first watched
        int wd = inotify_add_watch(_fd, dir, Mask);
        if (wd < 0) return false;
        if (!_names.TryGetValue(wd, out var names)) _names[wd] = names = new HashSet<string>(StringComparer.Ordinal);
        names.Add(name);
        return true;
    }

    /// <summary>
    /// Reads every event the kernel has queued (the descriptor does not block) and returns the
    /// generation after them. An event is queued by the very system call that made the change, so a
    /// change that was complete before this call is always counted: the next request sees it.
    /// </summary>
    [System.Runtime.CompilerServices.SkipLocalsInit] // the buffer is only read where read(2) wrote it
    public unsafe long Poll()
    {
        if (_closed) return -1;
        lock (_drain)
        {
            const int Size = 16 * 1024;
            byte* buffer = stackalloc byte[Size];
            bool changed = false;
            while (true)
            {
                nint n = read(_fd, buffer, Size);
                if (n <= 0)
                {
                    if (n < 0 && Marshal.GetLastPInvokeError() == 4) continue; // EINTR
                    break; // EAGAIN: nothing (more) queued
                }
                for (nint off = 0; off + 16 <= n;)
                {
                    int wd = *(int*)(buffer + off);
                    uint mask = *(uint*)(buffer + off + 4);
                    int len = (int)*(uint*)(buffer + off + 12);
                    string? name = null;
                    if (len > 0)
                    {
                        var span = new ReadOnlySpan<byte>(buffer + off + 16, len);
                        int nul = span.IndexOf((byte)0);
                        name = Encoding.UTF8.GetString(nul >= 0 ? span[..nul] : span);
                    }
                    off += 16 + len;
                    changed |= Matters(wd, mask, name);
                }
                if (n < Size - 4096) break; // a short read emptied the queue
            }
            if (changed) { _generation++; _changes++; }
            return _generation;
        }
    }

    private bool Matters(int wd, uint mask, string? name)
    {
        if ((mask & IN_Q_OVERFLOW) != 0) return true;
        lock (_lock)
        {
            if (!_names.TryGetValue(wd, out var names)) return false;
            if ((mask & SelfEvents) != 0)
            {
                // the directory is gone or elsewhere: forget the watch; the next walk adds the path again
                if ((mask & IN_IGNORED) != 0) _names.Remove(wd);
                return true;
            }
            if (name is null) return (mask & IN_ATTRIB) != 0; // the directory's own permissions
            if (!names.Contains(name)) return false;
            return name == HtaccessCache.FileName || (mask & EntryEvents) != 0;
        }
    }

    public void Dispose()
    {
        if (_closed) return;
        _closed = true;
        close(_fd);
    }
}
