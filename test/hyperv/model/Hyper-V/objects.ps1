# The objects the model's cmdlets return, with the properties the cmdlet reference documents and
# the scripts read. Each is a snapshot built from the state folder, as Hyper-V's objects are
# snapshots (the scripts re-read with Get-VM -Id after a change). Class names are Hyper-V's short
# names (Microsoft.HyperV.PowerShell.*) so typed parameters bind as they do on a host.

enum VMState { Other = 1; Running = 2; Off = 3; Stopping = 4; Saved = 6; Paused = 9; Starting = 10; Reset = 11; Saving = 32773; Pausing = 32776; Resuming = 32777 }
enum VhdType { Unknown; Fixed; Dynamic; Differencing }
enum VhdFormat { Unknown; VHD; VHDX; VHDSet }
enum VMNetworkAdapterVlanMode { Untagged; Access; Trunk; Private }

class VirtualMachineBase {
	[string]$Name
	[guid]$Id
	[string]$VMName
	[guid]$VMId
	[string]$ComputerName = 'MODEL'
}

class VirtualMachine : VirtualMachineBase {
	[VMState]$State
	[int]$Generation
	[string]$Notes
	[string]$Path
	[long]$ProcessorCount
	[long]$MemoryStartup
	[bool]$DynamicMemoryEnabled
	[CheckpointType]$CheckpointType
	[StartAction]$AutomaticStartAction
	[timespan]$Uptime
	[string]$Version = '8.0'
	[string]$ConfigurationLocation
}

class VMSnapshot : VirtualMachineBase {
	[datetime]$CreationTime
	[SnapshotType]$SnapshotType = 'Standard'
	[string]$Path
}

class VMComponentObject {
	[string]$Name
	[string]$Id
	[string]$VMName
	[guid]$VMId
}

class VMDriveController : VMComponentObject { [int]$ControllerNumber }
class VMScsiController : VMDriveController { }

class Drive : VMComponentObject {
	[string]$Path
	[ControllerType]$ControllerType
	[int]$ControllerNumber
	[int]$ControllerLocation
}
class HardDiskDrive : Drive { }
class DvdDrive : Drive { }

class VMNetworkAdapterBase : VMComponentObject {
	[string]$SwitchName
	[string]$MacAddress
	[bool]$DynamicMacAddressEnabled
	[bool]$IsLegacy
}
class VMNetworkAdapter : VMNetworkAdapterBase { }

class VMNetworkAdapterVlanSetting {
	[VMNetworkAdapterVlanMode]$OperationMode
	[int]$AccessVlanId
	[string]$VMName
}

class VMFirmware {
	[string]$VMName
	[guid]$VMId
	[OnOffState]$SecureBoot
	[string]$SecureBootTemplate
	[object[]]$BootOrder
}

class VMSwitch {
	[string]$Name
	[guid]$Id
	[VMSwitchType]$SwitchType
}

class VMIntegrationComponent {
	[string]$Name
	[string]$Id
	[string]$VMName
	[bool]$Enabled
	[string]$PrimaryOperationalStatus
	[string]$PrimaryStatusDescription
}

# Compare-VM.md: "returning a compatibility report"; the report's VM is the planned VM an import registers.
class VMCompatibilityError {
	[string]$Message
	[long]$MessageId
	[object]$Source
}
class VMCompatibilityReport {
	[VirtualMachine]$VM
	[VMCompatibilityError[]]$Incompatibilities
	[string]$Path
	[string]$OperationType = 'ImportVirtualMachine'
}

class VMHost {
	[string]$ComputerName
	[string]$VirtualHardDiskPath
	[string]$VirtualMachinePath
}

class VirtualHardDisk {
	[string]$Path
	[VhdFormat]$VhdFormat
	[VhdType]$VhdType
	[uint64]$FileSize
	[uint64]$Size
	[uint64]$MinimumSize
	[string]$ParentPath
	[string]$DiskIdentifier
	[bool]$Attached
	[uint32]$LogicalSectorSize = 512
	[uint32]$PhysicalSectorSize = 4096
	[uint32]$BlockSize = 33554432
}

# Stand-ins for MMI's CimInstance/CimClass (their constructors need libmi, Windows only): the
# class name and the properties the scripts read, of the classes the model offers.
class HvCimInstance {
	[string]$CimClassName
	[string]$Namespace
	# Win32_Volume
	[string]$Name
	[uint64]$FreeSpace
	# Win32_OperatingSystem
	[string]$Caption
	[string]$Version
	# Msvm_VirtualSystemSettingData
	[string]$ConfigurationID
	[string]$VirtualSystemType
	# Msvm_ComputerSystem
	[string]$ElementName
	# Msvm_ConcreteJob
	[string]$InstanceID
	[uint16]$JobState
	[string]$ErrorDescription
}
class HvCimClass { [string]$CimClassName }
