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

    protected override void ProcessRecord()
    {
        string path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
        if (!File.Exists(path))
        {
            WriteError(new ErrorRecord(new FileNotFoundException($"Spec '{path}' does not exist.", path), "SpecNotFound", ErrorCategory.ObjectNotFound, path));
            return;
        }
        SpecEditResult result;
        try { result = Editor.Edit(File.ReadAllText(path), path); }
        catch (SpecAnchorException e)
        {
            WriteError(new ErrorRecord(e, "SpecAnchorMissing", ErrorCategory.ObjectNotFound, path));
            return;
        }
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
