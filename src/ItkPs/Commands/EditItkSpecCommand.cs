using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Spec;

namespace ItkPs.Commands;

/// <summary>Edit-ItkSpec: applies the mpm-itk recipe to an httpd.spec (idempotent, structural).</summary>
[Cmdlet(VerbsData.Edit, "ItkSpec", SupportsShouldProcess = true)]
[OutputType(typeof(SpecEditResult))]
public sealed class EditItkSpecCommand : SpecCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "SpecPath")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";


    /// <summary>Write the edited spec here instead of replacing the input (which is then kept as .bak).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? OutFile { get; set; }

    /// <summary>
    /// The httpd source (the Source0 tarball or an unpacked tree) to find prefork in.
    /// Default: Source0 beside the spec or in ../SOURCES; without it, the upstream layout.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SourcePath { get; set; }

    protected override void ProcessRecord()
    {
        string path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
        if (!File.Exists(path))
        {
            WriteError(new ErrorRecord(new FileNotFoundException($"Spec '{path}' does not exist.", path), "SpecNotFound", ErrorCategory.ObjectNotFound, path));
            return;
        }
        MpmTree tree;
        try
        {
            if (SourcePath is null)
            {
                string folder = System.IO.Path.GetDirectoryName(path)!;
                tree = MpmTree.ForSpec(path, [folder, System.IO.Path.Combine(folder, "..", "SOURCES")], WriteVerbose);
            }
            else
            {
                string source = SessionState.Path.GetUnresolvedProviderPathFromPSPath(SourcePath);
                if (!File.Exists(source) && !Directory.Exists(source))
                {
                    WriteError(new ErrorRecord(new FileNotFoundException($"-SourcePath '{source}' does not exist.", source), "SourceNotFound", ErrorCategory.ObjectNotFound, source));
                    return;
                }
                tree = MpmTree.Inspect(source);
            }
        }
        catch (SourceTreeException e)
        {
            WriteError(new ErrorRecord(e, "PreforkNotFound", ErrorCategory.ObjectNotFound, e.TreePath));
            return;
        }
        SpecEditResult result;
        try { result = Editor.Edit(File.ReadAllText(path), path, tree); }
        catch (SpecAnchorException e)
        {
            WriteError(new ErrorRecord(e, "SpecAnchorMissing", ErrorCategory.ObjectNotFound, path));
            return;
        }
        WriteVerbose(result.Layout);
        WarnWhenTheTreeHasNoExperimental(result);
        foreach (var reason in result.NotNeeded) WriteVerbose($"not needed: {reason}");
        string target = OutFile is null ? path : SessionState.Path.GetUnresolvedProviderPathFromPSPath(OutFile);
        if (result.AlreadyEdited)
        {
            WriteVerbose($"{path} already has every mpm-itk edit; nothing to change.");
            if (target != path && ShouldProcess(target, "Write the (unchanged) spec")) AtomicFile.Write(target, result.Text);
        }
        else if (ShouldProcess(target, $"Apply {result.Applied.Count} mpm-itk edit(s):{Environment.NewLine}{result.Diff}"))
        {
            AtomicFile.Write(target, result.Text);
        }
        WriteObject(result);
    }
}
