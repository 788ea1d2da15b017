using System.Runtime.InteropServices;

namespace ItkPs.Server;

/// <summary>
/// An idle worker gives back what it holds but does not use, as Windows' working-set trimming
/// does: the garbage collector returns its free heap to the system (an aggressive, compacting
/// collection), and the pages of code and read-only data it mapped at start-up are unmapped
/// (madvise MADV_DONTNEED on clean, read-only file mappings only: the pages stay in the page cache,
/// shared by every worker, and come back with a minor fault when the next request runs that
/// code). A thousand idle tenants then cost their private memory, not a thousand copies of the
/// binary's page tables and accounting.
/// </summary>
public static partial class WorkingSet
{
    private const int MADV_DONTNEED = 4;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int madvise(nint address, nuint length, int advice);

    /// <summary>Returns the bytes of mappings unmapped (the GC's return is not counted).</summary>
    public static long Trim()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        long unmapped = 0;
        foreach (var (start, end) in CleanReadOnlyFileMappings())
            if (madvise((nint)start, (nuint)(end - start), MADV_DONTNEED) == 0) unmapped += (long)(end - start);
        return unmapped;
    }

    /// <summary>
    /// Read-only (r--p, r-xp) mappings of files holding no anonymous page: never a page the process
    /// changed (RELRO data relocated at start-up is anonymous and stays), never a writable mapping.
    /// </summary>
    private static List<(ulong Start, ulong End)> CleanReadOnlyFileMappings()
    {
        var found = new List<(ulong, ulong)>();
        (ulong Start, ulong End, bool Candidate) current = default;
        bool anonymous = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            if (line.Length > 0 && char.IsAsciiHexDigit(line[0]) && line.IndexOf('-') is int dash and > 0 && line.IndexOf(' ') > dash)
            {
                if (current.Candidate && !anonymous) found.Add((current.Start, current.End));
                var parts = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
                var range = parts[0].Split('-');
                string perms = parts[1];
                string path = parts.Length > 5 ? parts[5].Trim() : "";
                bool candidate = perms is "r--p" or "r-xp" && path.StartsWith('/') && !path.EndsWith("(deleted)", StringComparison.Ordinal);
                current = (Convert.ToUInt64(range[0], 16), Convert.ToUInt64(range[1], 16), candidate);
                anonymous = false;
            }
            else if (line.StartsWith("Anonymous:", StringComparison.Ordinal) && !line.AsSpan(10).Trim().StartsWith("0 kB"))
                anonymous = true;
        }
        if (current.Candidate && !anonymous) found.Add((current.Start, current.End));
        return found;
    }
}
