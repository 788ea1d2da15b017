using Mono.Unix.Native;

namespace ItkPs.Core.Config;

/// <summary>
/// Writes configuration files so that a reader (Apache, itkd, a reload) sees either the old
/// or the new file, never half of one: write a temporary file beside it, fsync, then
/// rename(2) over it. The old version is kept as "&lt;file&gt;.bak" and its owner and mode carry over.
/// </summary>
public static class AtomicFile
{
    public const string BackupSuffix = ".bak";

    public static void Write(string path, string text, bool keepBackup = true)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
            using (var w = new StreamWriter(fs, new System.Text.UTF8Encoding(false)))
            {
                w.Write(text);
                w.Flush();
                fs.Flush(flushToDisk: true);
            }
            if (Syscall.stat(full, out var old) == 0)
            {
                Syscall.chmod(tmp, old.st_mode & (FilePermissions)0xFFF);
                Syscall.chown(tmp, (int)old.st_uid, (int)old.st_gid); // fails harmlessly when not root
                if (keepBackup) File.Copy(full, full + BackupSuffix, overwrite: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Retires a file by renaming it to its backup name (atomic; nothing is lost).</summary>
    public static string Retire(string path)
    {
        string backup = path + BackupSuffix;
        File.Move(path, backup, overwrite: true);
        return backup;
    }
}
