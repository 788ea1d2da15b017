using System.Management.Automation;
using Mono.Unix.Native;

namespace ItkPs;

/// <summary>Runs when the module is imported: makes the shipped itkd (and itkd-worker) executable again.</summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer
{
    /// <summary>The itkd published beside the module (build.ps1 stages it at itkd/itkd).</summary>
    public static string ShippedItkd { get; } =
        Path.Combine(Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location)!, "itkd", "itkd");

    public void OnImport()
    {
        RestoreExecuteBit(ShippedItkd);
        // the build workers start from (itkd's Privileged/WorkerImage.cs); without the bit itkd
        // starts them from itkd itself, and each costs ~3.7 MB more
        RestoreExecuteBit(Path.Combine(Path.GetDirectoryName(ShippedItkd)!, "itkd-worker"));
    }

    /// <summary>
    /// A module installed from a .nupkg (Install-PSResource) loses the file modes: NuGet packages
    /// keep none, so itkd arrives as 0644. The owner of the module folder gets the execute bits
    /// back on import; a file writable by anyone else is left alone, since it may not be ours.
    /// </summary>
    internal static void RestoreExecuteBit(string path)
    {
        if (Syscall.stat(path, out var st) != 0) return;
        var mode = st.st_mode;
        const FilePermissions exec = FilePermissions.S_IXUSR | FilePermissions.S_IXGRP | FilePermissions.S_IXOTH;
        if ((mode & FilePermissions.S_IXUSR) != 0 || st.st_uid != Syscall.geteuid()
            || (mode & (FilePermissions.S_IWGRP | FilePermissions.S_IWOTH)) != 0)
            return;
        // Execute wherever read is allowed, as a 0644 file becomes 0755.
        var add = ((mode & FilePermissions.S_IRUSR) != 0 ? FilePermissions.S_IXUSR : 0)
                  | ((mode & FilePermissions.S_IRGRP) != 0 ? FilePermissions.S_IXGRP : 0)
                  | ((mode & FilePermissions.S_IROTH) != 0 ? FilePermissions.S_IXOTH : 0);
        Syscall.chmod(path, (mode & (FilePermissions.ACCESSPERMS)) | (add & exec));
    }
}
