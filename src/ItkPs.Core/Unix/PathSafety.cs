using Mono.Unix.Native;

namespace ItkPs.Core.Unix;

/// <summary>
/// Whether someone other than root could change where a path leads: a directory on the way
/// (symbolic links followed as the kernel follows them) that is owned by another user, or
/// writable by a group other than root's or by everyone — except a sticky directory such as
/// /tmp, where others may add names but cannot rename or remove an entry root owns. Root may
/// only create, open or follow a path nobody else can steer (a log file, the control socket).
/// </summary>
public static class PathSafety
{
    /// <summary>One directory on the way that someone besides root can modify, and who.</summary>
    public sealed record Writer(string Directory, string Who)
    {
        public override string ToString() => $"'{Directory}' can be changed by {Who}";
    }

    /// <summary>
    /// The first directory on the way to <paramref name="path"/> (every directory looked in,
    /// up to the path's parent) that someone besides root can modify; null when there is none.
    /// A missing component is judged by the last directory that exists: whoever may write there
    /// may create the rest.
    /// </summary>
    public static Writer? UntrustedWriter(string path, IAccountDatabase accounts)
    {
        if (!Path.IsPathRooted(path)) path = Path.GetFullPath(path);
        var pending = new Stack<string>(Components(path).Reverse());
        string dir = "/";
        bool stickyOpen = false; // dir is writable by others but sticky: the next entry must be root's
        int links = 0;
        if (Check(dir, out stickyOpen) is { } top) return top;
        while (pending.Count > 0)
        {
            string name = pending.Pop();
            if (name == ".") continue;
            if (name == "..") { dir = Path.GetDirectoryName(dir) ?? "/"; if (Check(dir, out stickyOpen) is { } up) return up; continue; }
            string next = dir == "/" ? "/" + name : dir + "/" + name;
            bool exists = Syscall.lstat(next, out var st) == 0;
            if (stickyOpen && (!exists || st.st_uid != 0))
                return new Writer(dir, exists ? $"everyone (a sticky directory, but '{name}' is not root's)" : $"everyone (a sticky directory where anyone may create '{name}')");
            if (!exists) return null;
            if ((st.st_mode & FilePermissions.S_IFMT) == FilePermissions.S_IFLNK)
            {
                if (++links > 40) return new Writer(next, "nobody: it is a loop of symbolic links");
                var target = new System.Text.StringBuilder(4096);
                if (Syscall.readlink(next, target) < 0) return null;
                string t = target.ToString();
                foreach (var c in Components(t).Reverse()) pending.Push(c);
                if (t.StartsWith('/')) { dir = "/"; if (Check(dir, out stickyOpen) is { } root) return root; }
                continue;
            }
            if (pending.Count == 0) return null; // the path itself: its directory has been judged
            if ((st.st_mode & FilePermissions.S_IFMT) != FilePermissions.S_IFDIR) return null; // ENOTDIR: nothing can be created below it
            dir = next;
            if (Check(dir, out stickyOpen) is { } w) return w;
        }
        return null;

        Writer? Check(string d, out bool sticky)
        {
            sticky = false;
            if (Syscall.stat(d, out var st) != 0) return null;
            var mode = (uint)st.st_mode;
            if (st.st_uid != 0) return new Writer(d, $"its owner {Name(accounts.FindUser(st.st_uid)?.Name, st.st_uid)}");
            bool isSticky = (mode & 0x200) != 0;
            bool groupWrites = (mode & 0x10) != 0 && st.st_gid != 0, othersWrite = (mode & 0x2) != 0;
            if ((groupWrites || othersWrite) && isSticky) { sticky = true; return null; }
            if (groupWrites) return new Writer(d, $"the group {Name(accounts.FindGroup(st.st_gid)?.Name, st.st_gid)}");
            if (othersWrite) return new Writer(d, "everyone");
            return null;
        }
    }

    private static string Name(string? name, uint id) => name is null ? $"#{id}" : $"{name} ({id})";

    private static IEnumerable<string> Components(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries);
}
