# The model's behaviour: what each declared cmdlet does. A rule taken from the cmdlet reference
# (MicrosoftDocs/windows-powershell-docs, docset/winserver2022-ps/hyper-v/<cmdlet>.md) quotes its
# sentence; a rule from a field report or the review says so; the rest is plumbing.

$script:HvHeartbeatId = '84EAAE65-2F2E-45F5-9BB5-0E857DC8EB47'
$script:HvShutdownId = '9F8233AC-BE49-4C79-8EE3-E7E1985B2077'
$script:HvMetaOffset = 192 * 1024
$script:HvDataOffset = 256 * 1024
$script:HvMagic = 'RDMODEL1'

# ------------------------------------------------------------------ state and plumbing

function Get-HvRoot {
	$root = $env:RD_HYPERV_MODEL
	if (-not $root) { throw 'RD_HYPERV_MODEL names no model state folder' }
	return $root
}

function Read-HvJson([string]$File) {
	# -DateKind String: dates stay the strings they were written as.
	return (Get-Content -LiteralPath $File -Raw -Encoding utf8 | ConvertFrom-Json -AsHashtable -DateKind String)
}

function Write-HvJson([string]$File, $Value) {
	# Written whole, then renamed over the old file: another process never reads half of it.
	$temp = $File + '.' + [guid]::NewGuid().ToString('n') + '.tmp'
	[IO.File]::WriteAllText($temp, (ConvertTo-Json -InputObject $Value -Depth 12))
	[IO.File]::Move($temp, $File, $true)
}

function Read-HvHost { return (Read-HvJson (Join-Path (Get-HvRoot) 'host.json')) }

function Mount-HvDrives {
	if (-not $env:RD_HYPERV_MODEL) { return }
	$hostState = Read-HvHost
	foreach ($letter in @($hostState.drives.Keys)) {
		$native = [string]$hostState.drives[$letter]
		if (-not (Test-Path -LiteralPath $native)) { $null = New-Item -ItemType Directory -Path $native -Force }
		if (-not (Get-PSDrive -Name $letter -ErrorAction SilentlyContinue)) { $null = New-PSDrive -Name $letter -PSProvider FileSystem -Root $native -Scope Global }
	}
}

function Get-HvDeclaredCommands {
	return @(Get-Command -CommandType Function | Where-Object { $_.ScriptBlock.ToString() -match 'Invoke-HvModel -Command' } | ForEach-Object { $_.Name })
}

function ConvertTo-HvNative([string]$Path) {
	return $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
}

function Get-HvVmRecords {
	$folder = Join-Path (Get-HvRoot) 'vms'
	if (-not (Test-Path -LiteralPath $folder)) { return @() }
	return @(Get-ChildItem -LiteralPath $folder -Filter '*.json' | Sort-Object -Property Name | ForEach-Object { Read-HvJson $_.FullName })
}

function Get-HvVmRecord([string]$Id, [switch]$RegisteredOnly) {
	# A planned VM (a configuration Compare-VM read, not yet imported) is found by its objects too, never by Get-VM.
	$folders = if ($RegisteredOnly) { @('vms') } else { @('vms', 'planned') }
	foreach ($folder in $folders) {
		$file = Join-Path (Join-Path (Get-HvRoot) $folder) ($Id.ToLowerInvariant() + '.json')
		if (Test-Path -LiteralPath $file) { return (Read-HvJson $file) }
	}
	return $null
}

function Save-HvVmRecord($Record) {
	$folder = Join-Path (Get-HvRoot) $(if ($Record.planned) { 'planned' } else { 'vms' })
	if (-not (Test-Path -LiteralPath $folder)) { $null = New-Item -ItemType Directory -Path $folder -Force }
	Write-HvJson (Join-Path $folder ($Record.id + '.json')) $Record
}

function Stop-Hv($Cmdlet, [string]$Message, [string]$Category = 'InvalidOperation', [string]$ErrorId = 'HyperVModel') {
	$record = [Management.Automation.ErrorRecord]::new([InvalidOperationException]::new($Message), $ErrorId, [Management.Automation.ErrorCategory]$Category, $null)
	$Cmdlet.ThrowTerminatingError($record)
}

function Write-HvNotFound($Cmdlet, $Bound, [string]$Message) {
	# A non-terminating error, as Hyper-V writes for an object it cannot find; the caller's
	# -ErrorAction or $ErrorActionPreference decides (a script module does not inherit the latter).
	$preference = if ($Bound.ContainsKey('ErrorAction')) { [string]$Bound['ErrorAction'] } else { [string]$Cmdlet.SessionState.PSVariable.GetValue('ErrorActionPreference') }
	if ($preference -eq 'SilentlyContinue' -or $preference -eq 'Ignore') { return }
	$record = [Management.Automation.ErrorRecord]::new([Management.Automation.ItemNotFoundException]::new($Message), 'ObjectNotFound', [Management.Automation.ErrorCategory]::ObjectNotFound, $null)
	if ($preference -eq 'Stop') { $Cmdlet.ThrowTerminatingError($record) }
	$Cmdlet.WriteError($record)
}

function Invoke-HvModel {
	param([string]$Command, $Cmdlet, $Bound)
	$behaviour = $script:HvBehaviour[$Command]
	if ($null -eq $behaviour) { Stop-Hv $Cmdlet ($Command + ' is declared (5.1 parameter sets) but its behaviour is not modelled') 'NotImplemented' }
	return (& $behaviour $Bound $Cmdlet)
}

# ------------------------------------------------------------------ VHDX files (real bytes, modelled metadata)

function Read-HvVhdMeta([string]$Path) {
	$native = ConvertTo-HvNative $Path
	$stream = [IO.File]::Open($native, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]::ReadWrite -bor [IO.FileShare]::Delete)
	try {
		$head = [byte[]]::new(192 * 1024 + 12)
		$read = $stream.Read($head, 0, $head.Length)
		if ($read -lt 8 -or [Text.Encoding]::ASCII.GetString($head, 0, 8) -ne 'vhdxfile') { throw ('The file ''' + $Path + ''' is not a virtual hard disk file.') }
		# MS-VHDX 2.2.2: the header with the greater SequenceNumber is current; a LogGuid not zero means a log to replay.
		$current = $null
		$sequence = -1
		foreach ($offset in @(65536, 131072)) {
			if ($read -ge $offset + 64 -and [Text.Encoding]::ASCII.GetString($head, $offset, 4) -eq 'head') {
				$seq = [BitConverter]::ToInt64($head, $offset + 8)
				if ($seq -gt $sequence) { $sequence = $seq; $current = $offset }
			}
		}
		if ($null -ne $current) {
			for ($i = 48; $i -lt 64; $i++) {
				if ($head[$current + $i] -ne 0) { throw ('The virtual hard disk ''' + $Path + ''' has a pending log that must be replayed before it can be opened read-only.') }
			}
		}
		if ($read -lt $script:HvMetaOffset + 12 -or [Text.Encoding]::ASCII.GetString($head, $script:HvMetaOffset, 8) -ne $script:HvMagic) { throw ('The file ''' + $Path + ''' is not a virtual hard disk the model knows.') }
		$length = [BitConverter]::ToInt32($head, $script:HvMetaOffset + 8)
		$json = [byte[]]::new($length)
		$null = $stream.Seek($script:HvMetaOffset + 12, [IO.SeekOrigin]::Begin)
		$null = $stream.Read($json, 0, $length)
		$meta = [Text.Encoding]::UTF8.GetString($json) | ConvertFrom-Json -AsHashtable -DateKind String
		$meta.fileSize = $stream.Length
		return $meta
	} finally { $stream.Dispose() }
}

function Write-HvVhdMeta([string]$Path, $Meta, [switch]$Create) {
	$native = ConvertTo-HvNative $Path
	$copy = @{ diskIdentifier = $Meta.diskIdentifier; size = $Meta.size; type = $Meta.type; parentPath = $Meta.parentPath; parentIdentifier = $Meta.parentIdentifier }
	$json = [Text.Encoding]::UTF8.GetBytes((ConvertTo-Json -InputObject $copy -Compress))
	if ($json.Length -gt ($script:HvDataOffset - $script:HvMetaOffset - 12)) { throw 'model VHDX metadata too long' }
	$mode = if ($Create) { [IO.FileMode]::CreateNew } else { [IO.FileMode]::Open }
	$stream = [IO.File]::Open($native, $mode, [IO.FileAccess]::ReadWrite, [IO.FileShare]::Read)
	try {
		if ($Create) {
			$stream.SetLength($script:HvDataOffset)
			$signature = [Text.Encoding]::ASCII.GetBytes('vhdxfile')
			$stream.Write($signature, 0, $signature.Length)
		}
		$block = [byte[]]::new($script:HvDataOffset - $script:HvMetaOffset)
		[Text.Encoding]::ASCII.GetBytes($script:HvMagic).CopyTo($block, 0)
		[BitConverter]::GetBytes([int]$json.Length).CopyTo($block, 8)
		$json.CopyTo($block, 12)
		$null = $stream.Seek($script:HvMetaOffset, [IO.SeekOrigin]::Begin)
		$stream.Write($block, 0, $block.Length)
		$stream.Flush($true)
	} finally { $stream.Dispose() }
}

function Get-HvVhdRecords([string]$Path) {
	$bytes = [IO.File]::ReadAllBytes((ConvertTo-HvNative $Path))
	if ($bytes.Length -le $script:HvDataOffset) { return @() }
	return @([Text.Encoding]::UTF8.GetString($bytes, $script:HvDataOffset, $bytes.Length - $script:HvDataOffset) -split "`n" | Where-Object { $_ -ne '' })
}

function Add-HvVhdRecords([string]$Path, [string[]]$Lines) {
	if ($Lines.Count -eq 0) { return }
	$stream = [IO.File]::Open((ConvertTo-HvNative $Path), [IO.FileMode]::Append, [IO.FileAccess]::Write, [IO.FileShare]::Read)
	try {
		$bytes = [Text.Encoding]::UTF8.GetBytes((($Lines | ForEach-Object { $_ + "`n" }) -join ''))
		$stream.Write($bytes, 0, $bytes.Length)
		$stream.Flush($true)
	} finally { $stream.Dispose() }
}

function Get-HvChain([string]$Path) {
	# The files of a disk chain, leaf first; stops at a file that does not open.
	$chain = @()
	$current = $Path
	while ($current -and $chain.Count -lt 64) {
		$chain += $current
		try { $meta = Read-HvVhdMeta $current } catch { break }
		$current = $meta.parentPath
	}
	return $chain
}

function Test-HvSamePath([string]$A, [string]$B) {
	if (-not $A -or -not $B) { return $false }
	return ((ConvertTo-HvNative $A) -eq (ConvertTo-HvNative $B))
}

function Get-HvAttachingVms([string]$Path) {
	# The VMs (not off) whose disk chain holds $Path.
	$vms = @()
	foreach ($record in (Get-HvVmRecords)) {
		if ($record.state -eq 'Off') { continue }
		foreach ($drive in @($record.drives)) {
			if ($drive.kind -ne 'HardDisk' -or -not $drive.path) { continue }
			foreach ($file in (Get-HvChain $drive.path)) { if (Test-HvSamePath $file $Path) { $vms += $record; break } }
		}
	}
	return $vms
}

function Resolve-HvVhdPath($Cmdlet, [string]$Path) {
	# Field report (the review, point 9), not the reference: Hyper-V's disk cmdlets resolve -Path
	# with wildcards although their pages say "Accept wildcard characters: False".
	if ([Management.Automation.WildcardPattern]::ContainsWildcardCharacters($Path)) {
		$found = @(Get-Item -Path $Path -Force -ErrorAction SilentlyContinue)
		if ($found.Count -ne 1) { Stop-Hv $Cmdlet ('The system cannot find the file specified: ''' + $Path + '''') 'ObjectNotFound' }
		return $found[0].FullName
	}
	if (-not (Test-Path -LiteralPath $Path -PathType Leaf)) { Stop-Hv $Cmdlet ('The system cannot find the file specified: ''' + $Path + '''') 'ObjectNotFound' }
	return $Path
}

function New-HvVhdObject([string]$Path) {
	$meta = Read-HvVhdMeta $Path
	$vhd = [VirtualHardDisk]::new()
	$vhd.Path = $Path
	$vhd.VhdFormat = 'VHDX'
	$vhd.VhdType = $meta.type
	$vhd.FileSize = [uint64]$meta.fileSize
	$vhd.Size = [uint64]$meta.size
	$vhd.MinimumSize = [uint64]$meta.size
	$vhd.ParentPath = [string]$meta.parentPath
	$vhd.DiskIdentifier = [string]$meta.diskIdentifier
	$vhd.Attached = (@(Get-HvAttachingVms $Path).Count -gt 0)
	return $vhd
}

# ------------------------------------------------------------------ objects from records

function New-HvVmObject($Record) {
	$vm = [VirtualMachine]::new()
	$vm.Name = $Record.name
	$vm.VMName = $Record.name
	$vm.Id = [guid]$Record.id
	$vm.VMId = [guid]$Record.id
	$vm.State = $Record.state
	$vm.Generation = [int]$Record.generation
	$vm.Notes = [string]$Record.notes
	$vm.Path = $Record.path
	# The folder whose "Virtual Machines" subfolder holds the configuration (New-VM -Path P: P\<name>).
	$vm.ConfigurationLocation = $Record.path
	$vm.ProcessorCount = [long]$Record.processorCount
	$vm.MemoryStartup = [long]$Record.memoryStartup
	$vm.DynamicMemoryEnabled = [bool]$Record.dynamicMemory
	$vm.CheckpointType = $Record.checkpointType
	$vm.AutomaticStartAction = $Record.automaticStartAction
	$vm.Uptime = [timespan]::Zero
	if ($Record.state -eq 'Running' -and $Record.startedAt) { $vm.Uptime = [datetime]::UtcNow - [datetime]::Parse($Record.startedAt).ToUniversalTime() }
	return $vm
}

function New-HvDriveObject($Record, $Drive) {
	$object = if ($Drive.kind -eq 'Dvd') { [DvdDrive]::new() } else { [HardDiskDrive]::new() }
	$object.Name = if ($Drive.kind -eq 'Dvd') { 'DVD Drive' } else { 'Hard Drive' }
	$object.Id = 'Microsoft:' + $Record.id + '\' + $Drive.id
	$object.VMName = $Record.name
	$object.VMId = [guid]$Record.id
	$object.Path = $Drive.path
	$object.ControllerType = $Drive.controllerType
	$object.ControllerNumber = [int]$Drive.controllerNumber
	$object.ControllerLocation = [int]$Drive.controllerLocation
	return $object
}

function New-HvAdapterObject($Record, $Adapter) {
	$object = [VMNetworkAdapter]::new()
	$object.Name = $Adapter.name
	$object.Id = 'Microsoft:' + $Record.id + '\' + $Adapter.id
	$object.VMName = $Record.name
	$object.VMId = [guid]$Record.id
	$object.SwitchName = $Adapter.switchName
	$object.MacAddress = $Adapter.mac
	$object.DynamicMacAddressEnabled = [bool]$Adapter.dynamicMac
	return $object
}

function Get-HvRecordFor($Cmdlet, $Object) {
	$record = Get-HvVmRecord ([string]$Object.VMId)
	if ($null -eq $Record) { Stop-Hv $Cmdlet ('Hyper-V was unable to find a virtual machine with ID ''' + $Object.VMId + '''.') 'ObjectNotFound' }
	return $record
}

function Get-HvVmsOf($Cmdlet, $Bound) {
	# The -VM objects of a call, as records read fresh (Hyper-V acts on the VM, not on the snapshot object).
	return @(foreach ($vm in @($Bound['VM'])) { Get-HvRecordFor $Cmdlet $vm })
}

function New-HvMac {
	# Hyper-V's dynamic MACs come from the host's pool, 00-15-5D-…
	$bytes = [byte[]]::new(3)
	[Security.Cryptography.RandomNumberGenerator]::Fill($bytes)
	return ('00155D' + [BitConverter]::ToString($bytes).Replace('-', ''))
}

function Test-HvChainOpens([string]$Path) {
	$current = $Path
	$childParentId = $null
	for ($depth = 0; $current -and $depth -lt 64; $depth++) {
		try { $meta = Read-HvVhdMeta $current } catch { return $false }
		if ($null -ne $childParentId -and $childParentId -ne $meta.diskIdentifier) { return $false }
		$childParentId = $meta.parentIdentifier
		$current = $meta.parentPath
	}
	return $true
}

# ------------------------------------------------------------------ the cmdlets

$script:HvBehaviour = @{}

$script:HvBehaviour['Get-VMHost'] = {
	param($Bound, $Cmdlet)
	$hostState = Read-HvHost
	$object = [VMHost]::new()
	$object.ComputerName = $hostState.computerName
	$object.VirtualHardDiskPath = $hostState.virtualHardDiskPath
	$object.VirtualMachinePath = $hostState.virtualMachinePath
	return $object
}

$script:HvBehaviour['Get-VMSwitch'] = {
	param($Bound, $Cmdlet)
	foreach ($switch in @((Read-HvHost).switches)) {
		if ($Bound.ContainsKey('Name') -and -not (@($Bound['Name']) | Where-Object { $switch.name -like $_ })) { continue }
		$object = [VMSwitch]::new()
		$object.Name = $switch.name
		$object.Id = [guid]$switch.id
		$object.SwitchType = $switch.switchType
		$object
	}
}

$script:HvBehaviour['Get-VM'] = {
	param($Bound, $Cmdlet)
	$records = Get-HvVmRecords
	if ($Bound.ContainsKey('Id')) {
		$found = @($records | Where-Object { [guid]$_.id -eq $Bound['Id'] })
		if ($found.Count -eq 0) { Write-HvNotFound $Cmdlet $Bound ('Hyper-V was unable to find a virtual machine with ID ''' + $Bound['Id'] + '''.'); return }
		return (New-HvVmObject $found[0])
	}
	if ($Bound.ContainsKey('Name')) {
		# Get-VM.md -Name: "Specifies the name of the virtual machine to be retrieved." It takes wildcards ("Accept wildcard characters: True").
		foreach ($name in @($Bound['Name'])) {
			$found = @($records | Where-Object { $_.name -like $name })
			if ($found.Count -eq 0 -and -not [Management.Automation.WildcardPattern]::ContainsWildcardCharacters($name)) { Write-HvNotFound $Cmdlet $Bound ('Hyper-V was unable to find a virtual machine with name "' + $name + '".') }
			foreach ($record in $found) { New-HvVmObject $record }
		}
		return
	}
	foreach ($record in $records) { New-HvVmObject $record }
}

$script:HvBehaviour['New-VM'] = {
	param($Bound, $Cmdlet)
	$hostState = Read-HvHost
	# New-VM.md -Generation: "The values that are valid in this version of Windows are 1 and 2." Not given: 1.
	$generation = if ($Bound.ContainsKey('Generation')) { [int]$Bound['Generation'] } else { 1 }
	if ($generation -ne 1 -and $generation -ne 2) { Stop-Hv $Cmdlet ('Generation ' + $generation + ' is not valid: 1 and 2 are') 'InvalidArgument' }
	$name = [string]$Bound['Name']
	$id = [guid]::NewGuid().ToString()
	# New-VM.md -Path: "Specifies the directory to store the files for the new virtual machine." Hyper-V puts them in <Path>\<Name> (the driver relies on it).
	$base = if ($Bound.ContainsKey('Path')) { [string]$Bound['Path'] } else { [string]$hostState.virtualMachinePath }
	$vmPath = Join-Path $base $name
	$config = Join-Path $vmPath 'Virtual Machines'
	if (-not (Test-Path -LiteralPath $config)) { $null = New-Item -ItemType Directory -Path $config -Force }
	[IO.File]::WriteAllText((ConvertTo-HvNative (Join-Path $config ($id + '.vmcx'))), 'model VM configuration')
	# Modelled: the new VM's checkpoint type and automatic start action are the host's defaults (Production and
	# StartIfRunning on Windows Server 2016 and later); host.json's newVm may give others.
	$checkpointType = if ($hostState.newVm -and $hostState.newVm.checkpointType) { [string]$hostState.newVm.checkpointType } else { 'Production' }
	$startAction = if ($hostState.newVm -and $hostState.newVm.automaticStartAction) { [string]$hostState.newVm.automaticStartAction } else { 'StartIfRunning' }
	$record = [ordered]@{
		id = $id; name = $name; state = 'Off'; generation = $generation; notes = ''; path = $vmPath; configFile = (Join-Path $config ($id + '.vmcx'))
		processorCount = 1; memoryStartup = [long]$(if ($Bound.ContainsKey('MemoryStartupBytes')) { $Bound['MemoryStartupBytes'] } else { 1GB }); dynamicMemory = $false
		checkpointType = $checkpointType; automaticStartAction = $startAction; scsiControllers = $(if ($generation -eq 2) { 1 } else { 0 })
		firmware = @{ secureBoot = $(if ($generation -eq 2) { 'On' } else { 'Off' }); template = 'MicrosoftWindows'; firstBoot = $null }
		drives = @(); adapters = @(); snapshots = @(); startedAt = $null
		integration = @{ heartbeat = $true; shutdown = $true }
		# Modelled: the guest state (UEFI variables, vTPM) a new VM starts with, a token only the VM's own .vmgs carries on.
		guestState = [guid]::NewGuid().ToString()
	}
	if ($generation -eq 1) {
		# Field behaviour (the review, point 5), not in the reference: a generation 1 VM gets a DVD drive at IDE 1:0.
		$record.drives = @(@{ id = [guid]::NewGuid().ToString(); kind = 'Dvd'; controllerType = 'IDE'; controllerNumber = 1; controllerLocation = 0; path = $null })
	}
	# New-VM.md -SwitchName: "Specifies the friendly name of the virtual switch if you want to connect the new virtual machine to an existing virtual switch"; New-VM adds one adapter, connected or not.
	$switchName = if ($Bound.ContainsKey('SwitchName')) { [string]$Bound['SwitchName'] } else { $null }
	$record.adapters = @(@{ id = [guid]::NewGuid().ToString(); name = 'Network Adapter'; switchName = $switchName; mac = '000000000000'; dynamicMac = $true; vlan = $null })
	if ($Bound.ContainsKey('VHDPath')) { Stop-Hv $Cmdlet 'New-VM -VHDPath is not modelled' 'NotImplemented' }
	Save-HvVmRecord $record
	return (New-HvVmObject $record)
}

$script:HvBehaviour['Set-VM'] = {
	param($Bound, $Cmdlet)
	foreach ($record in (Get-HvVmsOf $Cmdlet $Bound)) {
		$offOnly = @('ProcessorCount', 'StaticMemory', 'DynamicMemory', 'MemoryStartupBytes') | Where-Object { $Bound.ContainsKey($_) }
		# Modelled: processors and startup memory change only while the VM is off (Hyper-V refuses them on a running VM).
		if ($offOnly -and $record.state -ne 'Off') { Stop-Hv $Cmdlet ('''' + $record.name + ''' failed to modify settings: ' + ($offOnly -join ', ') + ' cannot be changed while the virtual machine is ' + $record.state) }
		if ($Bound.ContainsKey('Notes')) { $record.notes = [string]$Bound['Notes'] }
		if ($Bound.ContainsKey('NewVMName')) { $record.name = [string]$Bound['NewVMName'] }
		if ($Bound.ContainsKey('ProcessorCount')) { $record.processorCount = [long]$Bound['ProcessorCount'] }
		if ($Bound.ContainsKey('StaticMemory')) { $record.dynamicMemory = $false }
		if ($Bound.ContainsKey('DynamicMemory')) { $record.dynamicMemory = $true }
		if ($Bound.ContainsKey('MemoryStartupBytes')) { $record.memoryStartup = [long]$Bound['MemoryStartupBytes'] }
		if ($Bound.ContainsKey('CheckpointType')) { $record.checkpointType = [string]$Bound['CheckpointType'] }
		if ($Bound.ContainsKey('AutomaticStartAction')) { $record.automaticStartAction = [string]$Bound['AutomaticStartAction'] }
		Save-HvVmRecord $record
		if ($Bound['Passthru']) { New-HvVmObject $record }
	}
}

$script:HvBehaviour['Start-VM'] = {
	param($Bound, $Cmdlet)
	foreach ($record in (Get-HvVmsOf $Cmdlet $Bound)) {
		if ($record.state -eq 'Running') { continue }
		$fresh = $record.state -eq 'Off'
		foreach ($drive in @($record.drives | Where-Object { $_.kind -eq 'HardDisk' })) {
			# Modelled: a VM whose disk chain does not open (a file missing, a parent whose identity is not the one its child recorded) does not start.
			if (-not (Test-HvChainOpens $drive.path)) { Stop-Hv $Cmdlet ('''' + $record.name + ''' failed to start. The chain of virtual hard disk ''' + $drive.path + ''' is broken or a file is missing.') }
		}
		foreach ($adapter in @($record.adapters)) { if ($adapter.dynamicMac -and $adapter.mac -eq '000000000000') { $adapter.mac = New-HvMac } }
		if ($fresh) {
			# The guest boots: it writes to each of its disks (the leaf of each chain), real bytes the merge must carry.
			foreach ($drive in @($record.drives | Where-Object { $_.kind -eq 'HardDisk' })) { Add-HvVhdRecords $drive.path @('guest booted ' + $record.id + ' ' + [datetime]::UtcNow.ToString('o')) }
			$record.startedAt = [datetime]::UtcNow.ToString('o')
		}
		$record.state = 'Running'
		Save-HvVmRecord $record
		if ($Bound['Passthru']) { New-HvVmObject $record }
	}
}

$script:HvBehaviour['Stop-VM'] = {
	param($Bound, $Cmdlet)
	# Stop-VM.md: "The Stop-VM cmdlet shuts down, turns off, or saves a virtual machine."
	$hostState = Read-HvHost
	foreach ($record in (Get-HvVmsOf $Cmdlet $Bound)) {
		if ($Bound['TurnOff']) {
			# -TurnOff: "Specifies that the virtual machine is to be turned off."
			$record.state = 'Off'
		} elseif ($Bound['Save']) {
			# -Save: "Specifies that the virtual machine is to be saved."
			if ($record.state -eq 'Running' -or $record.state -eq 'Paused') { $record.state = 'Saved' }
		} else {
			if ($record.state -eq 'Off') { $Cmdlet.WriteWarning('The virtual machine is already in the specified state.'); continue }
			# Modelled: a shutdown goes through the guest's Shutdown integration service, so the guest must run it; a paused or saved VM runs no guest.
			if ($record.state -ne 'Running') { Stop-Hv $Cmdlet ('''' + $record.name + ''' failed to shut down: the virtual machine is ' + $record.state + '.') }
			if (-not $record.integration.shutdown -or -not $hostState.guest.shutdown) { Stop-Hv $Cmdlet ('''' + $record.name + ''' failed to shut down: the Shutdown integration service is not available.') }
			$record.state = 'Off'
		}
		if ($record.state -eq 'Off') { $record.startedAt = $null }
		Save-HvVmRecord $record
		if ($Bound['Passthru']) { New-HvVmObject $record }
	}
}

$script:HvBehaviour['Resume-VM'] = {
	param($Bound, $Cmdlet)
	# Resume-VM.md: "The Resume-VM cmdlet resumes a suspended (paused) virtual machine."
	foreach ($record in (Get-HvVmsOf $Cmdlet $Bound)) {
		if ($record.state -ne 'Paused') { Stop-Hv $Cmdlet ('''' + $record.name + ''' cannot be resumed: it is ' + $record.state + '.') }
		$record.state = 'Running'
		Save-HvVmRecord $record
		if ($Bound['Passthru']) { New-HvVmObject $record }
	}
}

$script:HvBehaviour['Remove-VM'] = {
	param($Bound, $Cmdlet)
	foreach ($record in (Get-HvVmsOf $Cmdlet $Bound)) {
		# Modelled: Hyper-V removes a VM only when it is off or saved.
		if ($record.state -ne 'Off' -and $record.state -ne 'Saved') { Stop-Hv $Cmdlet ('''' + $record.name + ''' cannot be removed while it is ' + $record.state + '.') }
		# Remove-VM.md: "If the virtual machine has any snapshots, these are deleted and merged into the virtual hard disk files after the virtual machine is deleted."
		foreach ($snapshot in @($record.snapshots)) {
			foreach ($drive in @($record.drives | Where-Object { $_.kind -eq 'HardDisk' })) {
				$meta = Read-HvVhdMeta $drive.path
				if ($meta.type -eq 'Differencing' -and $drive.path -like '*.avhdx') {
					Add-HvVhdRecords $meta.parentPath (Get-HvVhdRecords $drive.path)
					Remove-Item -LiteralPath $drive.path -Force
					$drive.path = $meta.parentPath
				}
			}
		}
		# Remove-VM.md: "Running this cmdlet deletes the virtual machine's configuration file, but does not delete any virtual hard drives."
		if ($record.configFile) {
			foreach ($file in @($record.configFile, [IO.Path]::ChangeExtension([string]$record.configFile, '.vmgs'))) { if (Test-Path -LiteralPath $file) { Remove-Item -LiteralPath $file -Force } }
		}
		Remove-Item -LiteralPath (Join-Path (Join-Path (Get-HvRoot) 'vms') ($record.id + '.json')) -Force
	}
}

function Select-HvDrives($Record, $Bound, [string]$Kind) {
	return @($Record.drives | Where-Object {
			$_.kind -eq $Kind -and
			(-not $Bound.ContainsKey('ControllerType') -or $_.controllerType -eq [string]$Bound['ControllerType']) -and
			(-not $Bound.ContainsKey('ControllerNumber') -or [int]$_.controllerNumber -eq [int]$Bound['ControllerNumber']) -and
			(-not $Bound.ContainsKey('ControllerLocation') -or [int]$_.controllerLocation -eq [int]$Bound['ControllerLocation'])
		} | Sort-Object -Property @{ Expression = { $_.controllerType } }, @{ Expression = { [int]$_.controllerNumber } }, @{ Expression = { [int]$_.controllerLocation } })
}

$script:HvBehaviour['Get-VMHardDiskDrive'] = {
	param($Bound, $Cmdlet)
	if ($Bound.ContainsKey('VMSnapshot')) {
		$snapshot = $Bound['VMSnapshot']
		$record = Get-HvRecordFor $Cmdlet $snapshot
		$saved = @($record.snapshots | Where-Object { $_.id -eq ([string]$snapshot.Id) }) | Select-Object -First 1
		foreach ($drive in @($saved.drives)) { New-HvDriveObject $record $drive }
		return
	}
	foreach ($record in (Get-HvVmsOf $Cmdlet $Bound)) { foreach ($drive in (Select-HvDrives $record $Bound 'HardDisk')) { New-HvDriveObject $record $drive } }
}

$script:HvBehaviour['Get-VMDvdDrive'] = {
	param($Bound, $Cmdlet)
	foreach ($record in (Get-HvVmsOf $Cmdlet $Bound)) { foreach ($drive in (Select-HvDrives $record $Bound 'Dvd')) { New-HvDriveObject $record $drive } }
}

$script:HvBehaviour['Remove-VMDvdDrive'] = {
	param($Bound, $Cmdlet)
	foreach ($drive in @($Bound['VMDvdDrive'])) {
		$record = Get-HvRecordFor $Cmdlet $drive
		# Modelled: IDE devices change only while the VM is off.
		if ($record.state -ne 'Off') { Stop-Hv $Cmdlet 'An IDE drive cannot be removed while the virtual machine is running.' }
		$record.drives = @($record.drives | Where-Object { ('Microsoft:' + $record.id + '\' + $_.id) -ne $drive.Id })
		Save-HvVmRecord $record
	}
}

$script:HvBehaviour['Add-VMHardDiskDrive'] = {
	param($Bound, $Cmdlet)
	foreach ($record in (Get-HvVmsOf $Cmdlet $Bound)) {
		$type = if ($Bound.ContainsKey('ControllerType')) { [string]$Bound['ControllerType'] } elseif ($record.generation -eq 2) { 'SCSI' } else { 'IDE' }
		$number = [int]$Bound['ControllerNumber']
		$location = [int]$Bound['ControllerLocation']
		# Modelled (Generation 2 VMs have no IDE controller; a generation 1 VM has IDE 0 and 1, two locations each).
		if ($type -eq 'IDE' -and $record.generation -eq 2) { Stop-Hv $Cmdlet 'Generation 2 virtual machines do not have an IDE controller.' 'InvalidArgument' }
		if ($type -eq 'IDE' -and ($number -gt 1 -or $location -gt 1)) { Stop-Hv $Cmdlet ('IDE ' + $number + ':' + $location + ' does not exist.') 'InvalidArgument' }
		if ($type -eq 'IDE' -and $record.state -ne 'Off') { Stop-Hv $Cmdlet 'An IDE drive cannot be added while the virtual machine is running.' }
		if ($type -eq 'SCSI' -and $number -ge [int]$record.scsiControllers) { Stop-Hv $Cmdlet ('SCSI controller ' + $number + ' does not exist.') 'InvalidArgument' }
		$taken = @($record.drives | Where-Object { $_.controllerType -eq $type -and [int]$_.controllerNumber -eq $number -and [int]$_.controllerLocation -eq $location })
		if ($taken.Count -gt 0) { Stop-Hv $Cmdlet ('The controller location ' + $type + ' ' + $number + ':' + $location + ' is in use.') 'ResourceExists' }
		$path = [string]$Bound['Path']
		$null = Read-HvVhdMeta (Resolve-HvVhdPath $Cmdlet $path)
		$record.drives = @($record.drives) + @(@{ id = [guid]::NewGuid().ToString(); kind = 'HardDisk'; controllerType = $type; controllerNumber = $number; controllerLocation = $location; path = $path })
		Save-HvVmRecord $record
	}
}

$script:HvBehaviour['Set-VMHardDiskDrive'] = {
	param($Bound, $Cmdlet)
	foreach ($drive in @($Bound['VMHardDiskDrive'])) {
		$record = Get-HvRecordFor $Cmdlet $drive
		$entry = @($record.drives | Where-Object { ('Microsoft:' + $record.id + '\' + $_.id) -eq $drive.Id }) | Select-Object -First 1
		if ($null -eq $entry) { Stop-Hv $Cmdlet 'The drive no longer exists.' 'ObjectNotFound' }
		# Modelled after the review (point 4), not the reference: a saved VM's drive keeps its path; an IDE drive changes only while off.
		if ($record.state -eq 'Saved' -or ($entry.controllerType -eq 'IDE' -and $record.state -ne 'Off')) { Stop-Hv $Cmdlet ('The drive of ''' + $record.name + ''' cannot be changed while the virtual machine is ' + $record.state + '.') }
		if ($Bound.ContainsKey('Path')) {
			$null = Read-HvVhdMeta (Resolve-HvVhdPath $Cmdlet ([string]$Bound['Path']))
			$entry.path = [string]$Bound['Path']
		}
		Save-HvVmRecord $record
	}
}

$script:HvBehaviour['Get-VMScsiController'] = {
	param($Bound, $Cmdlet)
	foreach ($record in (Get-HvVmsOf $Cmdlet $Bound)) {
		for ($n = 0; $n -lt [int]$record.scsiControllers; $n++) {
			$object = [VMScsiController]::new()
			$object.Name = 'SCSI Controller'
			$object.ControllerNumber = $n
			$object.VMName = $record.name
			$object.VMId = [guid]$record.id
			$object
		}
	}
}

$script:HvBehaviour['Add-VMScsiController'] = {
	param($Bound, $Cmdlet)
	foreach ($record in (Get-HvVmsOf $Cmdlet $Bound)) {
		# Modelled: controllers are added while the VM is off, at most four.
		if ($record.state -ne 'Off') { Stop-Hv $Cmdlet 'A SCSI controller cannot be added while the virtual machine is running.' }
		if ([int]$record.scsiControllers -ge 4) { Stop-Hv $Cmdlet 'A virtual machine has at most 4 SCSI controllers.' }
		$record.scsiControllers = [int]$record.scsiControllers + 1
		Save-HvVmRecord $record
	}
}

$script:HvBehaviour['Get-VMNetworkAdapter'] = {
	param($Bound, $Cmdlet)
	$records = if ($Bound['All']) { Get-HvVmRecords } else { Get-HvVmsOf $Cmdlet $Bound }
	foreach ($record in $records) {
		foreach ($adapter in @($record.adapters)) {
			if ($Bound.ContainsKey('Name') -and $adapter.name -notlike [string]$Bound['Name']) { continue }
			New-HvAdapterObject $record $adapter
		}
	}
}

$script:HvBehaviour['Add-VMNetworkAdapter'] = {
	param($Bound, $Cmdlet)
	foreach ($record in (Get-HvVmsOf $Cmdlet $Bound)) {
		$switchName = $null
		if ($Bound.ContainsKey('SwitchName')) {
			$switchName = [string]$Bound['SwitchName']
			if (-not (@((Read-HvHost).switches) | Where-Object { $_.name -ceq $switchName })) { Stop-Hv $Cmdlet ('No switch can be found by given criteria: ''' + $switchName + '''') 'ObjectNotFound' }
		}
		$mac = '000000000000'
		$dynamic = $true
		if ($Bound.ContainsKey('StaticMacAddress')) {
			$mac = ([string]$Bound['StaticMacAddress']).Replace('-', '').Replace(':', '').ToUpperInvariant()
			if ($mac -notmatch '^[0-9A-F]{12}$') { Stop-Hv $Cmdlet ('Invalid MAC address ''' + $Bound['StaticMacAddress'] + '''') 'InvalidArgument' }
			$dynamic = $false
		}
		$name = if ($Bound.ContainsKey('Name')) { [string]$Bound['Name'] } else { 'Network Adapter' }
		$record.adapters = @($record.adapters) + @(@{ id = [guid]::NewGuid().ToString(); name = $name; switchName = $switchName; mac = $mac; dynamicMac = $dynamic; vlan = $null })
		Save-HvVmRecord $record
	}
}

function Get-HvAdapterEntry($Cmdlet, $Adapter) {
	$record = Get-HvRecordFor $Cmdlet $Adapter
	$entry = @($record.adapters | Where-Object { ('Microsoft:' + $record.id + '\' + $_.id) -eq $Adapter.Id }) | Select-Object -First 1
	if ($null -eq $entry) { Stop-Hv $Cmdlet ('The network adapter ''' + $Adapter.Name + ''' no longer exists.') 'ObjectNotFound' }
	return @($record, $entry)
}

$script:HvBehaviour['Remove-VMNetworkAdapter'] = {
	param($Bound, $Cmdlet)
	foreach ($adapter in @($Bound['VMNetworkAdapter'])) {
		$record, $entry = Get-HvAdapterEntry $Cmdlet $adapter
		$record.adapters = @($record.adapters | Where-Object { $_.id -ne $entry.id })
		Save-HvVmRecord $record
	}
}

$script:HvBehaviour['Get-VMNetworkAdapterVlan'] = {
	param($Bound, $Cmdlet)
	foreach ($adapter in @($Bound['VMNetworkAdapter'])) {
		$record, $entry = Get-HvAdapterEntry $Cmdlet $adapter
		$setting = [VMNetworkAdapterVlanSetting]::new()
		$setting.VMName = $record.name
		if ($null -ne $entry.vlan) { $setting.OperationMode = 'Access'; $setting.AccessVlanId = [int]$entry.vlan } else { $setting.OperationMode = 'Untagged' }
		$setting
	}
}

$script:HvBehaviour['Set-VMNetworkAdapterVlan'] = {
	param($Bound, $Cmdlet)
	foreach ($adapter in @($Bound['VMNetworkAdapter'])) {
		$record, $entry = Get-HvAdapterEntry $Cmdlet $adapter
		if ($Bound['Access']) {
			$id = [int]$Bound['VlanId']
			# Set-VMNetworkAdapterVlan: VLAN identifiers are 1–4094.
			if ($id -lt 1 -or $id -gt 4094) { Stop-Hv $Cmdlet ('Invalid VLAN ID ' + $id) 'InvalidArgument' }
			$entry.vlan = $id
		} elseif ($Bound['Untagged']) { $entry.vlan = $null }
		Save-HvVmRecord $record
	}
}

$script:HvBehaviour['Get-VMFirmware'] = {
	param($Bound, $Cmdlet)
	foreach ($record in (Get-HvVmsOf $Cmdlet $Bound)) {
		# Get-VMFirmware.md: "Gets the firmware configuration of a virtual machine." Generation 2 only (generation 1 has a BIOS: Get-VMBios).
		if ([int]$record.generation -ne 2) { Stop-Hv $Cmdlet ('''' + $record.name + ''' is a generation 1 virtual machine: it has no firmware settings (use Get-VMBios).') 'InvalidArgument' }
		$object = [VMFirmware]::new()
		$object.VMName = $record.name
		$object.VMId = [guid]$record.id
		$object.SecureBoot = $record.firmware.secureBoot
		$object.SecureBootTemplate = $record.firmware.template
		$object
	}
}

$script:HvBehaviour['Set-VMFirmware'] = {
	param($Bound, $Cmdlet)
	foreach ($record in (Get-HvVmsOf $Cmdlet $Bound)) {
		if ([int]$record.generation -ne 2) { Stop-Hv $Cmdlet ('''' + $record.name + ''' is a generation 1 virtual machine: it has no firmware settings.') 'InvalidArgument' }
		if ($record.state -ne 'Off') { Stop-Hv $Cmdlet 'Firmware settings change only while the virtual machine is off.' }
		if ($Bound.ContainsKey('EnableSecureBoot')) { $record.firmware.secureBoot = [string]$Bound['EnableSecureBoot'] }
		if ($Bound.ContainsKey('SecureBootTemplate')) {
			$template = [string]$Bound['SecureBootTemplate']
			# Set-VMFirmware.md -SecureBootTemplate names the templates of the host; the model's host has these three.
			if (@('MicrosoftWindows', 'MicrosoftUEFICertificateAuthority', 'OpenSourceShieldedVM') -notcontains $template) { Stop-Hv $Cmdlet ('The secure boot template ''' + $template + ''' does not exist.') 'InvalidArgument' }
			$record.firmware.template = $template
		}
		if ($Bound.ContainsKey('FirstBootDevice')) { $record.firmware.firstBoot = [string]$Bound['FirstBootDevice'].Id }
		Save-HvVmRecord $record
	}
}

$script:HvBehaviour['Get-VMIntegrationService'] = {
	param($Bound, $Cmdlet)
	$hostState = Read-HvHost
	foreach ($record in (Get-HvVmsOf $Cmdlet $Bound)) {
		foreach ($service in @(@{ name = 'Heartbeat'; id = $script:HvHeartbeatId; key = 'heartbeat' }, @{ name = 'Shutdown'; id = $script:HvShutdownId; key = 'shutdown' })) {
			$object = [VMIntegrationComponent]::new()
			$object.Name = $service.name
			$object.Id = 'Microsoft:' + $record.id.ToUpperInvariant() + '\' + $service.id
			$object.VMName = $record.name
			$object.Enabled = [bool]$record.integration[$service.key]
			# Modelled: a running guest whose integration services answer reports OK; the host's guest.heartbeat can make it stay silent.
			$answers = $record.state -eq 'Running' -and $object.Enabled -and [bool]$hostState.guest[$service.key]
			$object.PrimaryOperationalStatus = if ($answers) { 'Ok' } elseif ($record.state -eq 'Running') { 'NoContact' } else { '' }
			$object.PrimaryStatusDescription = if ($answers) { 'OK' } elseif ($record.state -eq 'Running') { 'No Contact' } else { '' }
			$object
		}
	}
}

# PowerShell Direct (MicrosoftDocs/windowsserverdocs, Manage-Windows-virtual-machines-with-PowerShell-Direct.md
# and Virtualization-Documentation powershell-direct.md): "The virtual machine must be running locally
# on the host" and "turned on and running with at least one configured user profile"; the session
# runs as the -Credential account of the guest. The model's guest is this machine: the script block
# runs in a runspace of its own (no variable of the caller reaches it, as in a remote session),
# its processes are real. The guest's accounts are host.json guest.accounts (name → password).
$script:HvBehaviour['Invoke-Command'] = {
	param($Bound, $Cmdlet)
	$hostState = Read-HvHost
	$record = $null
	if ($Bound.ContainsKey('VMId')) {
		$ids = @($Bound['VMId'])
		if ($ids.Count -ne 1) { Stop-Hv $Cmdlet 'The model runs PowerShell Direct on one VM at a time.' 'NotImplemented' }
		$record = Get-HvVmRecord ([string]$ids[0]) -RegisteredOnly
		if ($null -eq $record) { Stop-Hv $Cmdlet 'The input VMId parameter does not resolve to any virtual machine.' 'InvalidArgument' }
	} else {
		$names = @($Bound['VMName'])
		$record = @(Get-HvVmRecords | Where-Object { $_.name -eq [string]$names[0] }) | Select-Object -First 1
		if ($null -eq $record) { Stop-Hv $Cmdlet 'The input VMName parameter does not resolve to any virtual machine.' 'InvalidArgument' }
	}
	# Field report wording, as PowerShell Direct says it of a VM that is off, saved or paused.
	if ($record.state -ne 'Running') { Stop-Hv $Cmdlet ('The virtual machine ' + $record.name + ' is not in running state.') 'InvalidOperation' }
	# Modelled: a guest that has not booted (its heartbeat silent) cannot take a session.
	if (-not [bool]$hostState.guest.heartbeat) { Stop-Hv $Cmdlet 'An error has occurred which Windows PowerShell cannot handle. A remote session might have ended.' 'OpenError' }
	$user = $Bound['Credential'].UserName
	$password = $Bound['Credential'].GetNetworkCredential().Password
	$accounts = $hostState.guest.accounts
	if ($null -eq $accounts -or -not $accounts.ContainsKey($user) -or [string]$accounts[$user] -ne $password) { Stop-Hv $Cmdlet 'The credential is invalid.' 'InvalidArgument' }
	$shell = [powershell]::Create()
	try {
		$null = $shell.AddScript($Bound['ScriptBlock'].ToString())
		foreach ($argument in @($Bound['ArgumentList'])) { $null = $shell.AddArgument($argument) }
		$output = $shell.Invoke()
		foreach ($problem in @($shell.Streams.Error)) { $Cmdlet.WriteError($problem) }
		foreach ($item in $output) { $item }
	} finally {
		$shell.Dispose()
	}
}

function New-HvSnapshotObject($Record, $Snapshot) {
	$object = [VMSnapshot]::new()
	$object.Name = $Snapshot.name
	$object.Id = [guid]$Snapshot.id
	$object.VMName = $Record.name
	$object.VMId = [guid]$Record.id
	$object.CreationTime = [datetime]::Parse($Snapshot.creationTime).ToLocalTime()
	return $object
}

$script:HvBehaviour['Get-VMSnapshot'] = {
	param($Bound, $Cmdlet)
	foreach ($record in (Get-HvVmsOf $Cmdlet $Bound)) {
		foreach ($snapshot in @($record.snapshots)) {
			if ($Bound.ContainsKey('Name') -and $snapshot.name -notlike [string]$Bound['Name']) { continue }
			New-HvSnapshotObject $record $snapshot
		}
	}
}

$script:HvBehaviour['Checkpoint-VM'] = {
	param($Bound, $Cmdlet)
	foreach ($record in (Get-HvVmsOf $Cmdlet $Bound)) {
		# Set-VM.md -CheckpointType: "Disabled - block creation of checkpoints".
		if ($record.checkpointType -eq 'Disabled') { Stop-Hv $Cmdlet ('Checkpoint operation failed for ''' + $record.name + ''': checkpoints are disabled for this virtual machine.') }
		$name = if ($Bound.ContainsKey('SnapshotName')) { [string]$Bound['SnapshotName'] } else { $record.name + ' - ' + [datetime]::Now.ToString('(MM/dd/yyyy - HH:mm:ss)') }
		$snapshot = @{ id = [guid]::NewGuid().ToString(); name = $name; creationTime = [datetime]::UtcNow.ToString('o'); drives = @() }
		# Modelled: the disks are frozen and the VM goes on writing to a new differencing disk (.avhdx) on each.
		foreach ($drive in @($record.drives | Where-Object { $_.kind -eq 'HardDisk' })) {
			$snapshot.drives = @($snapshot.drives) + @(@{ id = $drive.id; kind = 'HardDisk'; controllerType = $drive.controllerType; controllerNumber = $drive.controllerNumber; controllerLocation = $drive.controllerLocation; path = $drive.path })
			$parent = Read-HvVhdMeta $drive.path
			$child = [IO.Path]::ChangeExtension([string]$drive.path, $null).TrimEnd('.') + '_' + $snapshot.id.ToUpperInvariant() + '.avhdx'
			Write-HvVhdMeta $child @{ diskIdentifier = [guid]::NewGuid().ToString().ToUpperInvariant(); size = $parent.size; type = 'Differencing'; parentPath = $drive.path; parentIdentifier = $parent.diskIdentifier } -Create
			$drive.path = $child
		}
		$record.snapshots = @($record.snapshots) + @($snapshot)
		Save-HvVmRecord $record
		if ($Bound['Passthru']) { New-HvSnapshotObject $record $snapshot }
	}
}

$script:HvBehaviour['Remove-VMSnapshot'] = {
	param($Bound, $Cmdlet)
	foreach ($snapshotObject in @($Bound['VMSnapshot'])) {
		$record = Get-HvRecordFor $Cmdlet $snapshotObject
		$snapshot = @($record.snapshots | Where-Object { $_.id -eq ([string]$snapshotObject.Id) }) | Select-Object -First 1
		if ($null -eq $snapshot) { continue }
		# Modelled: the checkpoint's differencing disk is merged back into its parent (Hyper-V merges it, live).
		foreach ($drive in @($record.drives | Where-Object { $_.kind -eq 'HardDisk' })) {
			$frozen = @($snapshot.drives | Where-Object { $_.id -eq $drive.id }) | Select-Object -First 1
			if ($null -eq $frozen -or $frozen.path -eq $drive.path) { continue }
			Add-HvVhdRecords $frozen.path (Get-HvVhdRecords $drive.path)
			Remove-Item -LiteralPath $drive.path -Force
			$drive.path = $frozen.path
		}
		$record.snapshots = @($record.snapshots | Where-Object { $_.id -ne $snapshot.id })
		Save-HvVmRecord $record
	}
}

$script:HvBehaviour['Get-VHD'] = {
	param($Bound, $Cmdlet)
	foreach ($path in @($Bound['Path'])) {
		$resolved = Resolve-HvVhdPath $Cmdlet $path
		try { $vhd = New-HvVhdObject $resolved } catch { Stop-Hv $Cmdlet $_.Exception.Message 'ReadError' }
		$vhd.Path = $path
		$vhd
	}
}

$script:HvBehaviour['New-VHD'] = {
	param($Bound, $Cmdlet)
	foreach ($path in @($Bound['Path'])) {
		if (Test-Path -LiteralPath $path) { Stop-Hv $Cmdlet ('The file ''' + $path + ''' already exists.') 'ResourceExists' }
		if ($Bound.ContainsKey('ParentPath')) {
			# New-VHD.md -Differencing: "Specifies that the virtual hard disk to be created is to be a differencing virtual hard disk."
			$parentPath = Resolve-HvVhdPath $Cmdlet ([string]$Bound['ParentPath'])
			try { $parent = Read-HvVhdMeta $parentPath } catch { Stop-Hv $Cmdlet $_.Exception.Message 'ReadError' }
			$meta = @{ diskIdentifier = [guid]::NewGuid().ToString().ToUpperInvariant(); size = $parent.size; type = 'Differencing'; parentPath = [string]$Bound['ParentPath']; parentIdentifier = $parent.diskIdentifier }
		} else {
			$type = if ($Bound['Fixed']) { 'Fixed' } else { 'Dynamic' }
			$meta = @{ diskIdentifier = [guid]::NewGuid().ToString().ToUpperInvariant(); size = [uint64]$Bound['SizeBytes']; type = $type; parentPath = $null; parentIdentifier = $null }
		}
		Write-HvVhdMeta $path $meta -Create
		$vhd = New-HvVhdObject $path
		$vhd
	}
}

$script:HvBehaviour['Set-VHD'] = {
	param($Bound, $Cmdlet)
	$path = Resolve-HvVhdPath $Cmdlet ([string]$Bound['Path'])
	$meta = Read-HvVhdMeta $path
	if ($Bound.ContainsKey('ParentPath')) {
		if ($meta.type -ne 'Differencing') { Stop-Hv $Cmdlet ('''' + $Bound['Path'] + ''' is not a differencing virtual hard disk.') 'InvalidArgument' }
		$online = @(Get-HvAttachingVms $path).Count -gt 0
		# Set-VHD.md -LeafPath: "Required when performing the operation in online mode."
		if ($online -and -not $Bound.ContainsKey('LeafPath')) { Stop-Hv $Cmdlet ('The virtual hard disk ''' + $Bound['Path'] + ''' is in use: -LeafPath is required to set its parent online.') }
		if ($online -and -not (@(Get-HvChain ([string]$Bound['LeafPath'])) | Where-Object { Test-HvSamePath $_ $path })) { Stop-Hv $Cmdlet ('''' + $Bound['LeafPath'] + ''' is not the leaf of the chain holding ''' + $Bound['Path'] + '''.') 'InvalidArgument' }
		$newParent = Resolve-HvVhdPath $Cmdlet ([string]$Bound['ParentPath'])
		$parent = Read-HvVhdMeta $newParent
		# Set-VHD.md -IgnoreIdMismatch: "Specifies that the check for identifier mismatch between the parent and child virtual hard disk is to be skipped."
		if (-not $Bound['IgnoreIdMismatch'] -and $parent.diskIdentifier -ne $meta.parentIdentifier) { Stop-Hv $Cmdlet ('The identifier of ''' + $Bound['ParentPath'] + ''' does not match the parent identifier recorded in ''' + $Bound['Path'] + '''.') 'InvalidData' }
		$meta.parentPath = [string]$Bound['ParentPath']
		$meta.parentIdentifier = $parent.diskIdentifier
		Write-HvVhdMeta $path $meta
	}
	if ($Bound['Passthru']) { New-HvVhdObject $path }
}

$script:HvBehaviour['Merge-VHD'] = {
	param($Bound, $Cmdlet)
	$path = Resolve-HvVhdPath $Cmdlet ([string]$Bound['Path'])
	# Merge-VHD.md: "Merge is an offline operation; the virtual hard disk chain must not be attached when merge is initiated."
	foreach ($file in (Get-HvChain $path)) {
		if (@(Get-HvAttachingVms $file).Count -gt 0) { Stop-Hv $Cmdlet ('The virtual hard disk chain of ''' + $Bound['Path'] + ''' is attached: merge is an offline operation.') }
	}
	$meta = Read-HvVhdMeta $path
	if ($meta.type -ne 'Differencing') { Stop-Hv $Cmdlet ('''' + $Bound['Path'] + ''' is not a differencing virtual hard disk.') 'InvalidArgument' }
	$destination = if ($Bound.ContainsKey('DestinationPath')) { [string]$Bound['DestinationPath'] } else { [string]$meta.parentPath }
	# Merge-VHD.md: "The merge is from a specified source child disk to a specified destination child disk." Here the destination is the parent.
	if (-not (Test-HvSamePath $destination $meta.parentPath)) { Stop-Hv $Cmdlet ('''' + $destination + ''' is not the parent of ''' + $Bound['Path'] + ''' (the model merges one level).') 'NotImplemented' }
	Add-HvVhdRecords $destination (Get-HvVhdRecords $path)
	# Modelled: the merged child is gone afterwards.
	Remove-Item -LiteralPath $path -Force
	if ($Bound['Passthru']) { New-HvVhdObject $destination }
}

$script:HvBehaviour['Get-CimInstance'] = {
	param($Bound, $Cmdlet)
	$hostState = Read-HvHost
	if ($Bound.ContainsKey('InputObject')) {
		# Get-CimInstance -InputObject reads the instance again; the model's jobs run to completion at once.
		$fresh = $Bound['InputObject']
		if ($fresh.CimClassName -ne 'Msvm_ConcreteJob') { Stop-Hv $Cmdlet ('Get-CimInstance -InputObject of ' + $fresh.CimClassName + ' is not modelled') 'NotImplemented' }
		$job = [HvCimInstance]::new(); $job.CimClassName = $fresh.CimClassName; $job.Namespace = $fresh.Namespace; $job.InstanceID = $fresh.InstanceID; $job.JobState = 7
		return $job
	}
	$namespace = if ($Bound.ContainsKey('Namespace')) { [string]$Bound['Namespace'] } else { 'root/cimv2' }
	$class = [string]$Bound['ClassName']
	$new = { param($props) $o = [HvCimInstance]::new(); $o.CimClassName = $class; $o.Namespace = $namespace; foreach ($k in $props.Keys) { $o.$k = $props[$k] }; $o }
	switch ($class) {
		'Win32_Volume' { foreach ($volume in @($hostState.volumes)) { & $new @{ Name = $volume.name; FreeSpace = [uint64]$volume.freeSpace } } }
		'Win32_OperatingSystem' { & $new @{ Caption = 'Microsoft Windows Server 2016 Datacenter (Hyper-V model)'; Version = '10.0.14393' } }
		'Msvm_VirtualSystemManagementService' { & $new @{ Name = 'vmms' } }
		'Msvm_VirtualSystemSettingData' { foreach ($record in (Get-HvVmRecords)) { & $new @{ ConfigurationID = $record.id.ToUpperInvariant(); VirtualSystemType = 'Microsoft:Hyper-V:System:Realized' } } }
		# Msvm_ComputerSystem: Name is the VM's GUID, ElementName its name.
		'Msvm_ComputerSystem' { foreach ($record in (Get-HvVmRecords)) { & $new @{ Name = $record.id.ToUpperInvariant(); ElementName = $record.name } } }
		default { Stop-Hv $Cmdlet ('Invalid class ''' + $class + ''' (not modelled)') 'ObjectNotFound' }
	}
}

$script:HvBehaviour['Invoke-CimMethod'] = {
	param($Bound, $Cmdlet)
	$method = [string]$Bound['MethodName']
	$arguments = $Bound['Arguments']
	if ($Bound['ClassName'] -eq 'Win32_Process' -and $method -eq 'Create') {
		# A new powershell.exe on the host: the model's pwsh, with the model imported (its drives), detached from this process.
		$commandLine = [string]$arguments['CommandLine']
		if ($commandLine -notmatch '^powershell\.exe .*-EncodedCommand ([A-Za-z0-9+/=]+)$') { return [pscustomobject]@{ ReturnValue = [uint32]9; ProcessId = [uint32]0 } }
		$command = [Text.Encoding]::Unicode.GetString([Convert]::FromBase64String($Matches[1]))
		# A test's fault, not Hyper-V's behaviour: host.json's crashingProcesses makes that many new processes die at once (a worker killed, out of memory).
		$hostState = Read-HvHost
		if ([int]$hostState.crashingProcesses -gt 0) {
			$hostState.crashingProcesses = [int]$hostState.crashingProcesses - 1
			Write-HvJson (Join-Path (Get-HvRoot) 'host.json') $hostState
			$command = 'exit 3'
		}
		$prelude = '$env:RD_HYPERV_MODEL = ''' + $env:RD_HYPERV_MODEL.Replace("'", "''") + '''; Import-Module ''' + (Join-Path $script:HvModuleRoot 'Hyper-V.psm1').Replace("'", "''") + '''; '
		# The pwsh that plays powershell.exe (a .NET tool's pwsh runs under dotnet, so not [Environment]::ProcessPath).
		$start = [Diagnostics.ProcessStartInfo]::new($env:RD_HYPERV_MODEL_PWSH)
		foreach ($argument in @('-NoProfile', '-NonInteractive', '-EncodedCommand', [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($prelude + $command)))) { $start.ArgumentList.Add($argument) }
		$start.UseShellExecute = $false
		$start.RedirectStandardOutput = $false
		$process = [Diagnostics.Process]::Start($start)
		return [pscustomobject]@{ ReturnValue = [uint32]0; ProcessId = [uint32]$process.Id }
	}
	if ($method -eq 'GetVirtualSystemThumbnailImage') {
		$width = [int]$arguments['WidthPixels']
		$height = [int]$arguments['HeightPixels']
		$record = Get-HvVmRecord ([string]$arguments['TargetSystem'].ConfigurationID).ToLowerInvariant()
		# Modelled: a running VM shows a screen (a gradient, RGB 565); anything else is black.
		$bytes = [byte[]]::new($width * $height * 2)
		if ($null -ne $record -and $record.state -eq 'Running') { for ($i = 0; $i -lt $bytes.Length; $i += 2) { $bytes[$i] = [byte](($i / 2) % 256); $bytes[$i + 1] = [byte]([Math]::Floor($i / 2 / $width) % 256) } }
		return [pscustomobject]@{ ReturnValue = [uint32]0; ImageData = $bytes }
	}
	if ($method -eq 'ExportSystemDefinition') { return (Export-HvDefinition $Cmdlet $arguments) }
	Stop-Hv $Cmdlet ('Invoke-CimMethod ' + $method + ' is not modelled') 'NotImplemented'
}

# ------------------------------------------------------------------ configurations: export, compare, import

function Export-HvDefinition($Cmdlet, $Arguments) {
	# ExportSystemDefinition (Msvm_VirtualSystemManagementService): "Exports a virtual machine, or a snapshot of a virtual machine,
	# to a file." Msvm_VirtualSystemExportSettingData.CaptureLiveState: "Indicates what state to capture if the target of the export
	# is a running VM" — so a running VM exports too (CaptureCrashConsistentState (0): "No saved state files will be exported").
	$settings = @{}
	foreach ($property in ([xml][string]$Arguments['ExportSettingData']).INSTANCE.PROPERTY) { $settings[$property.NAME] = [string]$property.VALUE }
	# Modelled: configuration-only exports, the one kind the driver makes (CopyVmStorage: "true to copy VM storage").
	if ($settings['CopyVmStorage'] -ne 'FALSE' -or $settings['CopySnapshotConfiguration'] -ne '1' -or $settings['CopyVmRuntimeInformation'] -ne 'FALSE' -or $settings['CaptureLiveState'] -ne '0') { Stop-Hv $Cmdlet 'The model exports configurations only (no storage, snapshots, runtime state)' 'NotImplemented' }
	$record = Get-HvVmRecord ([string]$Arguments['ComputerSystem'].Name) -RegisteredOnly
	if ($null -eq $record) { return [pscustomobject]@{ ReturnValue = [uint32]32768; Job = $null } }
	# CreateVmExportSubdirectory false: the definition goes straight into the export directory's "Virtual Machines".
	$folder = [string]$Arguments['ExportDirectory']
	if ($settings['CreateVmExportSubdirectory'] -ne 'FALSE') { $folder = Join-Path $folder $record.name }
	$folder = Join-Path $folder 'Virtual Machines'
	$null = [IO.Directory]::CreateDirectory($folder)
	# Modelled: a .vmcx holds the VM's definition (here the model's record, without its run state), the .vmgs its guest state.
	$definition = [ordered]@{}
	foreach ($key in @($record.Keys)) { if (@('state', 'startedAt', 'snapshots', 'configFile', 'path', 'planned') -notcontains $key) { $definition[$key] = $record[$key] } }
	$base = Join-Path $folder $record.id.ToUpperInvariant()
	[IO.File]::WriteAllText($base + '.vmcx', (ConvertTo-Json -InputObject @{ model = 'vmcx'; vm = $definition } -Depth 12))
	[IO.File]::WriteAllText($base + '.vmgs', (ConvertTo-Json -InputObject @{ model = 'vmgs'; guestState = $record.guestState } -Depth 4))
	# "If the operation is performed asynchronously, this method will return 4096, and this parameter will contain a reference to an object derived from CIM_ConcreteJob."
	$job = [HvCimInstance]::new(); $job.CimClassName = 'Msvm_ConcreteJob'; $job.Namespace = 'root/virtualization/v2'; $job.InstanceID = [guid]::NewGuid().ToString(); $job.JobState = 4
	return [pscustomobject]@{ ReturnValue = [uint32]4096; Job = $job }
}

function Get-HvIncompatibilities($Record) {
	$found = @()
	foreach ($drive in @($Record.drives | Where-Object { $_.kind -eq 'HardDisk' })) {
		if (-not $drive.path -or -not (Test-Path -LiteralPath $drive.path -PathType Leaf)) {
			$problem = [VMCompatibilityError]::new(); $problem.MessageId = 40010; $problem.Message = 'Virtual hard disk file not found: ' + $drive.path; $problem.Source = (New-HvDriveObject $Record $drive)
			$found += $problem
		}
	}
	foreach ($adapter in @($Record.adapters)) {
		if ($adapter.switchName -and -not (@((Read-HvHost).switches) | Where-Object { $_.name -ceq $adapter.switchName })) {
			$problem = [VMCompatibilityError]::new(); $problem.MessageId = 33012; $problem.Message = 'Could not find Ethernet switch ''' + $adapter.switchName + '''.'; $problem.Source = (New-HvAdapterObject $Record $adapter)
			$found += $problem
		}
	}
	return $found
}

function New-HvReport($Record) {
	$report = [VMCompatibilityReport]::new()
	$report.VM = New-HvVmObject $Record
	$report.Incompatibilities = @(Get-HvIncompatibilities $Record)
	$report.Path = $Record.configFile
	return $report
}

function New-HvPlannedVm($Cmdlet, $Bound) {
	if ($Bound['Copy']) { Stop-Hv $Cmdlet 'Copying a virtual machine on import is not modelled (the driver registers in place)' 'NotImplemented' }
	# Windows paths as Hyper-V reports them (Join-Path on this non-Windows pwsh joins with /).
	$file = ([string]$Bound['Path']).Replace('/', '\')
	if (-not (Test-Path -LiteralPath $file -PathType Leaf)) { Stop-Hv $Cmdlet ('The virtual machine configuration file ''' + $file + ''' was not found.') 'ObjectNotFound' }
	try { $config = Read-HvJson (ConvertTo-HvNative $file) } catch { $config = $null }
	if ($null -eq $config -or $config.model -ne 'vmcx') { Stop-Hv $Cmdlet ('''' + $file + ''' is not a virtual machine configuration file.') 'InvalidArgument' }
	$record = $config.vm
	# Import-VM.md -GenerateNewId: "By default, Import-VM gives the virtual machine being imported the same unique identifier that it
	# had when it was exported." ImportVirtualSystem: "clients must ensure that the unique identifier is not already in use by an
	# existing virtual computer system" — modelled: Hyper-V refuses to register a second VM with an Id in use.
	if ($null -ne (Get-HvVmRecord $record.id -RegisteredOnly)) { Stop-Hv $Cmdlet ('The virtual machine ''' + $record.name + ''' cannot be imported: a virtual machine with the identifier ' + $record.id + ' already exists.') 'ResourceExists' }
	# Import-VM.md, example 1: "The virtual machine is registered in-place, so its files are not copied": the VM lives where its configuration is.
	# (The parent taken as text: Split-Path on this non-Windows pwsh would turn the path's \ into /.)
	$configFolder = $file.Substring(0, $file.LastIndexOf('\'))
	$record.path = $configFolder.Substring(0, $configFolder.LastIndexOf('\'))
	$record.configFile = $file
	$record.state = 'Off'
	$record.startedAt = $null
	$record.snapshots = @()
	$record.planned = $true
	# Modelled: the guest state comes from the .vmgs beside the configuration; without it the VM starts with a new one.
	$vmgs = [IO.Path]::ChangeExtension((ConvertTo-HvNative $file), '.vmgs')
	$record.guestState = if (Test-Path -LiteralPath $vmgs) { (Read-HvJson $vmgs).guestState } else { [guid]::NewGuid().ToString() }
	Save-HvVmRecord $record
	return $record
}

$script:HvBehaviour['Compare-VM'] = {
	param($Bound, $Cmdlet)
	# Compare-VM.md: "Compares a virtual machine and a virtual machine host for compatibility, returning a compatibility report."
	if (-not $Bound.ContainsKey('Path')) { Stop-Hv $Cmdlet 'Compare-VM other than of a configuration file (-Path) is not modelled' 'NotImplemented' }
	return (New-HvReport (New-HvPlannedVm $Cmdlet $Bound))
}

$script:HvBehaviour['Import-VM'] = {
	param($Bound, $Cmdlet)
	if ($Bound.ContainsKey('CompatibilityReport')) {
		$record = Get-HvVmRecord ([string]$Bound['CompatibilityReport'].VM.Id)
		if ($null -eq $record -or -not $record.planned) { Stop-Hv $Cmdlet 'The virtual machine of this compatibility report is no longer planned: run Compare-VM again.' 'InvalidOperation' }
	} else {
		$record = New-HvPlannedVm $Cmdlet $Bound
	}
	# Modelled on Hyper-V's refusal: an import with incompatibilities left fails and names them (Compare-VM then repairs the planned VM).
	$left = @(Get-HvIncompatibilities $record)
	if ($left.Count -gt 0) { Stop-Hv $Cmdlet ('Unable to import virtual machine due to configuration errors. Please use Compare-VM to repair the virtual machine. ' + (($left | ForEach-Object { $_.Message }) -join ' ')) }
	if ($null -ne (Get-HvVmRecord $record.id -RegisteredOnly)) { Stop-Hv $Cmdlet ('A virtual machine with the identifier ' + $record.id + ' already exists.') 'ResourceExists' }
	$plannedFile = Join-Path (Join-Path (Get-HvRoot) 'planned') ($record.id + '.json')
	$record.planned = $false
	Save-HvVmRecord $record
	Remove-Item -LiteralPath $plannedFile -Force
	return (New-HvVmObject $record)
}

$script:HvBehaviour['Connect-VMNetworkAdapter'] = {
	param($Bound, $Cmdlet)
	# Connect-VMNetworkAdapter.md: "Connects a virtual network adapter to a virtual switch."
	$switchName = [string]$Bound['SwitchName']
	if (-not (@((Read-HvHost).switches) | Where-Object { $_.name -ceq $switchName })) { Stop-Hv $Cmdlet ('No switch can be found by given criteria: ''' + $switchName + '''') 'ObjectNotFound' }
	foreach ($adapter in @($Bound['VMNetworkAdapter'])) {
		$record, $entry = Get-HvAdapterEntry $Cmdlet $adapter
		$entry.switchName = $switchName
		Save-HvVmRecord $record
	}
}

$script:HvBehaviour['Disconnect-VMNetworkAdapter'] = {
	param($Bound, $Cmdlet)
	# Disconnect-VMNetworkAdapter.md: "Disconnects a virtual network adapter from a virtual switch or Ethernet resource pool."
	foreach ($adapter in @($Bound['VMNetworkAdapter'])) {
		$record, $entry = Get-HvAdapterEntry $Cmdlet $adapter
		$entry.switchName = $null
		Save-HvVmRecord $record
	}
}

$script:HvBehaviour['Remove-VMHardDiskDrive'] = {
	param($Bound, $Cmdlet)
	# Remove-VMHardDiskDrive.md: "Deletes a hard disk drive from a virtual machine." The file stays.
	foreach ($drive in @($Bound['VMHardDiskDrive'])) {
		$record = Get-HvRecordFor $Cmdlet $drive
		$entry = @($record.drives | Where-Object { ('Microsoft:' + $record.id + '\' + $_.id) -eq $drive.Id }) | Select-Object -First 1
		if ($null -eq $entry) { Stop-Hv $Cmdlet 'The drive no longer exists.' 'ObjectNotFound' }
		if ($entry.controllerType -eq 'IDE' -and $record.state -ne 'Off') { Stop-Hv $Cmdlet 'An IDE drive cannot be removed while the virtual machine is running.' }
		$record.drives = @($record.drives | Where-Object { $_.id -ne $entry.id })
		Save-HvVmRecord $record
	}
}
