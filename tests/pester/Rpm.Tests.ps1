# The mpm-itk RPM recipe with the real rpmbuild: a tiny httpd-shaped package (a distribution
# security patch to prefork, mpmbuild, alternative-MPM installs, the %check loop) and
# stand-in ITK patches that apply to it.
BeforeAll {
    Import-Module $env:ITKPS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:Fixture = Join-Path $PSScriptRoot 'fixtures/tiny-httpd'
    $script:Base = New-TestRoot
    function New-SpecFolder([string] $Name) {
        $dir = Join-Path $Base $Name
        New-Item -ItemType Directory $dir | Out-Null
        Copy-Item (Join-Path $Fixture 'httpd.spec'), (Join-Path $Fixture 'httpd-2.2.3-CVE-0000-0001.patch') $dir
        tar -C $Fixture -czf (Join-Path $dir 'httpd-2.2.3.tar.gz') httpd-2.2.3
        $dir
    }
}

AfterAll { Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue }

Describe 'Edit-ItkSpec' {
    It '-WhatIf shows the diff in its What-if line, writes nothing and returns nothing' {
        $dir = New-SpecFolder 'whatif'
        $before = Get-TreeSnapshot $dir
        # What-if lines go to the host, so a pwsh of its own shows what a user sees.
        $seen = & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -Command "Import-Module '$env:ITKPS_MODULE_PATH'; Edit-ItkSpec -Path '$dir/httpd.spec' -WhatIf | ForEach-Object { 'OBJECT' }"
        ($seen -join "`n") | Should -Match 'What if: Performing the operation "Apply 8 mpm-itk edit\(s\):'
        ($seen -join "`n") | Should -Match '(?m)^\+%package -n httpd-itk'
        $seen | Should -Not -Contain 'OBJECT'
        Get-TreeSnapshot $dir | Should -Be $before
    }

    It 'edits in place keeping a .bak, then reports the spec as already edited' {
        $dir = New-SpecFolder 'inplace'
        $original = Get-Content -Raw "$dir/httpd.spec"
        (Edit-ItkSpec -Path "$dir/httpd.spec").Applied.Count | Should -Be 8
        Get-Content -Raw "$dir/httpd.spec.bak" | Should -Be $original
        $again = Edit-ItkSpec -Path "$dir/httpd.spec" -Verbose 4>&1
        $again | Should -HaveCount 1 -Because 'an edited spec is left alone and only -Verbose says so'
        $again[0] | Should -BeOfType System.Management.Automation.VerboseRecord
        "$($again[0])" | Should -Match 'already has every mpm-itk edit' 
        & rpmspec -P "$dir/httpd.spec" *> $null
        $LASTEXITCODE | Should -Be 0
    }

    It 'names the missing anchor and writes nothing' {
        $dir = New-SpecFolder 'broken'
        (Get-Content -Raw "$dir/httpd.spec") -replace 'mpmbuild worker', 'mpmbuild nothing' | Set-Content "$dir/httpd.spec" -NoNewline
        $before = Get-TreeSnapshot $dir
        Edit-ItkSpec -Path "$dir/httpd.spec" -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'SpecAnchorMissing,*'
        $err[0].Exception.Message | Should -Match "mpmbuild worker.*nearest line \d+"
        Get-TreeSnapshot $dir | Should -Be $before
    }
}

Describe 'Build-ItkRpm (real rpmbuild)' {
    BeforeAll {
        $script:Dir = New-SpecFolder 'build'
        $script:Top = Join-Path $Base 'top'
        $script:Rpms = Build-ItkRpm -SpecPath "$Dir/httpd.spec" -ItkPatchPath (Join-Path $Fixture 'itk-patches') -TopDir $Top -NoDeps `
            -Verbose -WarningVariable script:Warnings 4> (Join-Path $Base 'build.log')
        $script:Log = Get-Content (Join-Path $Base 'build.log')
    }

    It 'writes httpd and httpd-itk RPMs as FileInfo objects' {
        $Rpms | ForEach-Object { $_ | Should -BeOfType System.IO.FileInfo; $_.Exists | Should -BeTrue }
        $Rpms.Name | Should -Contain 'httpd-2.2.3-91.x86_64.rpm'
        $Rpms.Name | Should -Contain 'httpd-itk-2.2.3-91.x86_64.rpm'
    }

    It 'puts /usr/sbin/httpd.itk in httpd-itk, and not in httpd' {
        rpm -qlp ($Rpms | Where-Object Name -like 'httpd-itk-*').FullName | Should -Contain '/usr/sbin/httpd.itk'
        rpm -qlp ($Rpms | Where-Object Name -like 'httpd-2*').FullName | Should -Not -Contain '/usr/sbin/httpd.itk'
    }

    It 'ran the %check loop over itk, with the distribution security fix in itk' {
        $Log | Should -Contain 'check-mpm: itk: mpm: itk; security: CVE-0000-0001 fixed'
        $Log | Should -Contain 'check-mpm: worker: mpm: worker; security: unpatched'
    }

    It 'ships an httpd.itk built from the patched prefork' {
        $x = Join-Path $Base 'extract'
        New-Item -ItemType Directory $x | Out-Null
        Push-Location $x
        try { rpm2cpio ($Rpms | Where-Object Name -like 'httpd-itk-*').FullName | cpio -idm 2>$null } finally { Pop-Location }
        & "$x/usr/sbin/httpd.itk" | Should -Be 'mpm: itk; security: CVE-0000-0001 fixed'
        # rpmbuild cleans BUILD after success; the log shows each ITK patch being applied.
        @($Log | Where-Object { $_ -match '^Patch #4(0[2-9]|1[01]) \(' }).Count | Should -Be 10
    }

    It 'warned that %dist is undefined, and keeps it when defined' {
        $Warnings | Should -Match '%dist is not defined'
        $more = Build-ItkRpm -SpecPath "$Dir/httpd.spec" -ItkPatchPath (Join-Path $Fixture 'itk-patches') -TopDir (Join-Path $Base 'top-dist') -NoDeps -Define @{ dist = '.el5.centos' } -WarningVariable w
        $w | Should -BeNullOrEmpty
        $more.Name | Should -Contain 'httpd-itk-2.2.3-91.el5.centos.x86_64.rpm'
    }

    It 'builds from a source RPM too' {
        $srcTop = Join-Path $Base 'srpm-top'
        foreach ($d in 'SOURCES', 'SPECS', 'SRPMS') { New-Item -ItemType Directory -Force "$srcTop/$d" | Out-Null }
        Copy-Item "$Dir/httpd-2.2.3.tar.gz", "$Dir/httpd-2.2.3-CVE-0000-0001.patch" "$srcTop/SOURCES"
        & rpmbuild -bs --nodeps --define "_topdir $srcTop" (Join-Path $Fixture 'httpd.spec') *> $null
        $LASTEXITCODE | Should -Be 0
        $srpm = Get-ChildItem "$srcTop/SRPMS" -Filter '*.src.rpm' | Select-Object -First 1
        $rpms = Build-ItkRpm -SourceRpm $srpm.FullName -ItkPatchPath (Join-Path $Fixture 'itk-patches') -TopDir (Join-Path $Base 'top-srpm') -NoDeps -WarningAction SilentlyContinue
        $rpms.Name | Should -Contain 'httpd-itk-2.2.3-91.x86_64.rpm'
        rpm -qlp ($rpms | Where-Object Name -like 'httpd-itk-*').FullName | Should -Contain '/usr/sbin/httpd.itk'
    }

    It 'refuses an incomplete ITK patch folder before building' {
        $partial = Join-Path $Base 'partial-patches'
        New-Item -ItemType Directory $partial | Out-Null
        Copy-Item (Join-Path $Fixture 'itk-patches/02-rename-prefork-to-itk.patch') $partial
        { Build-ItkRpm -SpecPath "$Dir/httpd.spec" -ItkPatchPath $partial -NoDeps -ErrorAction Stop } |
            Should -Throw -ErrorId 'ItkPatchMissing,ItkPs.Commands.BuildItkRpmCommand'
    }

    It 'reports a failed build with its stage and the end of the log' {
        $bad = New-SpecFolder 'failing'
        (Get-Content -Raw "$bad/httpd.spec") -replace '(?m)^make$', "make`nfalse # broken on purpose" | Set-Content "$bad/httpd.spec" -NoNewline
        Build-ItkRpm -SpecPath "$bad/httpd.spec" -ItkPatchPath (Join-Path $Fixture 'itk-patches') -TopDir (Join-Path $Base 'top-bad') -NoDeps -ErrorVariable err -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'RpmBuildFailed,*'
        $err[0].Exception.Stage | Should -Be '%build'
        $err[0].Exception.LastLines -join "`n" | Should -Match 'Bad exit status'
    }
}

Describe 'examples/build-itk-rpm.ps1' {
    It 'runs the recipe end to end on the spec and leaves the RPMs in -OutDir' {
        $dir = New-SpecFolder 'runbook'
        $out = Join-Path $Base 'runbook-rpms'
        $rpms = & (Join-Path $PSScriptRoot '../../examples/build-itk-rpm.ps1') -SpecPath "$dir/httpd.spec" -ItkPatchPath (Join-Path $Fixture 'itk-patches') -NoDeps -OutDir $out 6>$null
        $rpms.Name | Should -Contain 'httpd-itk-2.2.3-91.el5.centos.x86_64.rpm'
        Join-Path $out 'httpd-itk-2.2.3-91.el5.centos.x86_64.rpm' | Should -Exist
    }
}

Describe 'Enable-ItkHttpd / Disable-ItkHttpd' {
    BeforeAll {
        $script:HostRoot = Join-Path $Base 'host'
        New-Item -ItemType Directory -Force "$HostRoot/etc/sysconfig", "$HostRoot/etc/httpd/conf.d" | Out-Null
        $script:Sys = "# The service must be stopped before changing this variable.`n#`n#HTTPD=/usr/sbin/httpd.worker`n"
        $script:Php = "<IfModule prefork.c>`n  LoadModule php5_module modules/libphp5.so`n</IfModule>`n<IfModule worker.c>`n  LoadModule php5_module modules/libphp5-zts.so`n</IfModule>`n"
        Set-Content "$HostRoot/etc/sysconfig/httpd" $Sys -NoNewline
        Set-Content "$HostRoot/etc/httpd/conf.d/php.conf" $Php -NoNewline
    }

    It '-WhatIf changes nothing' {
        $before = Get-TreeSnapshot $HostRoot
        Enable-ItkHttpd -Root $HostRoot -WhatIf | Out-Null
        Get-TreeSnapshot $HostRoot | Should -Be $before
    }

    It 'switches sysconfig and php.conf, keeping backups, and is idempotent' {
        $edits = Enable-ItkHttpd -Root $HostRoot
        $edits.Changed | Should -Be @($true, $true)
        Get-Content "$HostRoot/etc/sysconfig/httpd" | Should -Contain 'HTTPD=/usr/sbin/httpd.itk'
        Get-Content "$HostRoot/etc/httpd/conf.d/php.conf" | Should -Contain '<IfModule !worker.c>'
        Get-Content -Raw "$HostRoot/etc/sysconfig/httpd.bak" | Should -Be $Sys
        Enable-ItkHttpd -Root $HostRoot | Should -BeNullOrEmpty -Because 'nothing is left to change' 
    }

    It 'Disable-ItkHttpd restores both files' {
        Disable-ItkHttpd -Root $HostRoot | Out-Null
        Get-Content -Raw "$HostRoot/etc/sysconfig/httpd" | Should -Be $Sys
        Get-Content -Raw "$HostRoot/etc/httpd/conf.d/php.conf" | Should -Be $Php
    }
}

Describe 'New-ItkModuleSpec (httpd 2.4)' {
    It 'writes a spec rpmspec accepts and rpmbuild turns into mod_mpm_itk.so with 00-mpm-itk.conf' {
        $dir = Join-Path $Base 'module'
        New-Item -ItemType Directory $dir | Out-Null
        $files = New-ItkModuleSpec -Path "$dir/httpd-itk.spec"
        $files.Name | Should -Be @('httpd-itk.spec', '00-mpm-itk.conf')
        & rpmspec -P "$dir/httpd-itk.spec" *> $null
        $LASTEXITCODE | Should -Be 0
        tar -C (Join-Path $PSScriptRoot 'fixtures/mpm-itk-2.4') -czf "$dir/mpm-itk-2.4.7-04.tar.gz" mpm-itk-2.4.7-04
        $top = Join-Path $Base 'module-top'
        foreach ($d in 'SOURCES', 'SPECS', 'BUILD', 'RPMS') { New-Item -ItemType Directory -Force "$top/$d" | Out-Null }
        Copy-Item "$dir/mpm-itk-2.4.7-04.tar.gz", "$dir/00-mpm-itk.conf" "$top/SOURCES"
        $log = & rpmbuild -bb --nodeps --define "_topdir $top" --define '_buildshell /bin/bash' "$dir/httpd-itk.spec" 2>&1
        $LASTEXITCODE | Should -Be 0 -Because ($log | Select-Object -Last 15 | Out-String)
        $rpm = Get-ChildItem "$top/RPMS" -Recurse -Filter 'httpd-itk-2.4.7.04-1*.rpm' | Select-Object -First 1
        $list = rpm -qlp $rpm.FullName
        $list | Should -Contain '/usr/lib64/httpd/modules/mod_mpm_itk.so' -Because ($list -join ' ')
        $list | Should -Contain '/etc/httpd/conf.modules.d/00-mpm-itk.conf'
    }
}
